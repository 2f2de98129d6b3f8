// Sends one message (stdin) with emailjs-smtp-client, the client Thunderbird's SMTP code (mailnews SmtpClient.jsm)
// is derived from. Its AUTH LOGIN goes on only after exactly "334 VXNlcm5hbWU6" ("Username:") and
// "334 UGFzc3dvcmQ6" ("Password:"); any other challenge is an error, as in Thunderbird.
// usage: node smtp_login.js PORT USER PASSWORD FROM TO < message
// Prints "sent" and exits 0, or prints "error: <reason>" and exits 1.
'use strict'
const mod = require('emailjs-smtp-client')
const SmtpClient = mod.default || mod
const [port, user, pass, from, to] = process.argv.slice(2)
const message = require('fs').readFileSync(0, 'utf8')

const client = new SmtpClient('127.0.0.1', Number(port), {
  auth: { user, pass }, authMethod: 'LOGIN', ignoreTLS: true, name: 'emailjs.test'
})
client.logLevel = client.LOG_LEVEL_NONE
let sent = false
client.onidle = () => {
  if (sent) { client.quit(); return }
  client.useEnvelope({ from, to: [to] })
}
client.onready = () => { client.send(message); client.end() }
client.ondone = (ok) => { sent = ok; if (!ok) { console.log('error: not accepted'); process.exitCode = 1 } }
client.onerror = (err) => { console.log('error: ' + err.message); process.exitCode = 1; client.close() }
client.onclose = () => { if (sent) console.log('sent') }
setTimeout(() => { console.log('error: timeout'); process.exit(1) }, 20000).unref()
client.connect()
