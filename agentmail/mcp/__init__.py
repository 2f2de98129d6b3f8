"""`agentmail mcp`: a lean stdio MCP server over the same library calls as the CLI (docs/harnesses.md).

`tools` (the tool definitions, argument checks and what each tool does), `identity` (which account a call speaks
for), `views` (the text a model reads) import no MCP SDK: `import mcp` costs ~0.8 s, so only `server` imports it, and
only the `mcp` command imports `server`.
"""
