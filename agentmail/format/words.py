"""Word lists for random account names: `adjective-colour-noun` (DESIGN.md, "Addresses").

Plain lowercase a-z words, no duplicates within a list, chosen to be inoffensive in any combination.
Only imported by `address.random_name`, never on the send fast path.
"""

from __future__ import annotations

ADJECTIVES: tuple[str, ...] = tuple(
    """
    able agile airy alert amber ample ancient awake balanced bold bouncy brave breezy bright brisk
    bubbly bustling busy calm candid candied careful caring chatty cheerful cheery chilly chipper civil
    classic clean clear clement clever cloudy comfy cordial cosy cozy crafty crisp curious curly dainty
    dandy dapper daring dashing dear decent deft delicate devoted dewy diligent direct dizzy dreamy
    driven dusty dutiful eager early earnest easy elated electric elegant emerald eminent endless epic
    equal even exact expert fabled fair faithful famous fancy fast fearless fertile festive fiery fine
    firm flawless fleet floral flowing fluent fluffy focused fond fragrant frank free fresh friendly
    frisky frosty frugal funny fuzzy gallant generous gentle genuine giant giddy gifted gilded glad
    gleaming glossy glowing golden good graceful gracious grand grassy grateful great gusty hale handy
    happy hardy harmonic hasty heady hearty helpful heroic hidden honest honeyed hopeful humble humming
    hushed icy ideal idle immense jaunty jazzy jolly jovial joyful joyous jubilant keen kind kindly
    kinetic lanky lasting laughing lavish leafy learned level light likely lilting limber limpid lively
    local lofty loyal lucid lucky lunar lush lyrical magic majestic marine meadowy measured mellow
    melodic merry mighty mild mindful mirthful misty modern modest morning mossy musical mutual natural
    nautical neat nifty nimble noble nocturnal novel oaken open optimal orbital orderly pastoral patient
    peaceful peppy perky pinstriped pioneering placid plain playful pleasant plucky plush poised polar
    polished polite potent precise prime proud prudent quaint quick quiet quirky quizzical radiant
    rambling rapid rare ready regal relaxed resolute rich rippling roaming robust rolling rosy round
    rousing royal rugged rustic rustling safe sagacious salty sandy savvy scenic scholarly seasoned
    serene sharp shimmering shining shiny silent silky simple sincere sleek slender smart smooth snappy
    snug sociable soft solar solid sonic sound spacious spare sparkling sparkly speedy spicy spirited
    splendid spotless sprightly spry stable starry stately steady stellar still stoic stormy stout
    striped sturdy sublime subtle sugary summery sunlit sunny super supple sure swift swirling tactful
    tall tangy tender thankful thoughtful thrifty thriving tidal tidy timber timely tiny tireless
    topical tranquil tropical true trusty tuneful twinkling unfazed upbeat uplifting urban useful
    valiant valued vast velvet verdant vernal vibrant vigilant vintage vivid vocal wandering warm wavy
    whimsical windy wintry wise witty wondrous wooden woolly worthy young zany zealous zesty zippy
    """.split()
)

COLOURS: tuple[str, ...] = tuple(
    """
    amber apricot aqua ash auburn azure beige black blue blush bone brass bronze brown buff burgundy
    caramel carmine celadon cerise charcoal cherry chestnut cinnamon citrine claret cobalt cocoa copper
    coral cream crimson cyan denim dove ebony ecru emerald fawn fern flax fuchsia garnet ginger gold
    graphite gray green hazel heather honey indigo iris ivory jade jasmine khaki lapis lavender lemon
    lilac lime linen magenta mahogany maize marigold maroon mauve mint mocha moss mulberry mustard navy
    nutmeg ochre olive onyx opal orange orchid oyster paprika peach pearl periwinkle pewter pine pink
    pistachio plum poppy purple quartz raspberry red rose ruby russet rust saffron sage salmon sand
    sapphire scarlet seafoam sepia sienna silver slate smoke spruce straw tan tangerine taupe teal
    terracotta thistle topaz turquoise umber vanilla verdigris vermilion violet walnut wheat white
    wisteria yellow zinc
    """.split()
)

NOUNS: tuple[str, ...] = tuple(
    """
    acorn almond anchor antler anvil apple arch arrow atlas atrium aurora badge bagel ballad balloon
    bamboo banjo banner barn basil basket beacon beaker bear beaver beetle bell bench berry birch
    biscuit bison blossom boat bobcat bonsai bottle boulder bramble branch breeze brick bridge brook
    broom bubble bucket budget bugle bulb bundle butter button cabin cactus camel camera candle canoe
    canopy canyon caravan cargo carrot cascade castle cedar cello chalice chalk chart cherry chess
    chimney cider cinder cipher circle citadel clarinet cliff clock cloud clover coast cobble cocoa
    comet compass condor coral cork cosmos cotton cove crane crater crayon creek cricket crystal cup
    cymbal dahlia daisy delta desk dew dingo dolphin domino dove dragon drum dune dynamo eagle easel
    echo eel elk elm ember emblem engine fable falcon feather fern ferry fiddle field finch fiord fjord
    flag flame flint flute fog forest fossil fountain fox frog galaxy galleon garden garnet gazebo
    gazelle gecko geyser glacier glade globe gondola goose granite grove guitar gull hammock harbor
    harmonica harp hawk hazel hedge heron hill hive horizon hummingbird igloo inkwell island ivy jacket
    jaguar jar jelly jetty jigsaw journal kayak kernel kettle keystone kite koala ladder lagoon lake
    lantern lark lattice laurel leaf lemur lens lighthouse lily lion llama lobster locket lotus lute
    lynx magnet mandolin mango mantis maple marble marmot marsh mast meadow medal melon meridian mesa
    meteor mill minnow mirror mitten monsoon moon moose mosaic moth mountain muffin muffler narwhal
    nebula needle nest nugget nutmeg oak oasis oboe ocean octopus olive opal orbit orca orchard origami
    otter outpost owl oyster paddle paddock pagoda palm panda paper parcel parrot pavilion pebble
    pelican pencil penguin pepper petal piano piccolo pier pillow pine pinecone pixel planet plateau
    plum pond poplar prairie pretzel prism puffin pumpkin quail quarry quasar quill quilt rabbit radio
    raft rain rampart raven reed reef ribbon riddle ridge river robin rocket rosette saddle sail salmon
    sandal sapling satchel scarf schooner scroll seal sequoia sextant shell shore signal sketch skylark
    sled sloth snail sparrow sphinx spindle spire sponge spring sprocket squirrel star statue stone
    stork stream summit swan sycamore table tambourine tangent teapot tent terrace thicket thimble
    thistle thunder tiger timber topaz toucan tower trail tree trellis trumpet tulip tundra turbine
    turtle umbrella unicorn valley vase vault velvet vessel violin volcano waffle wagon walnut walrus
    wave whale wharf wheel willow windmill window wolf wren yak yarn zebra zephyr zeppelin
    """.split()
)
