// Drives a Node.js logging transport through esgate:
// node transports.mjs pino|winston URL INDEX N. Logs N events and prints
// one JSON line with what the transport reports: pino-elasticsearch's
// bulk helper stats (it writes {"index":{"_index":…,"op_type":"create"}}
// into a data stream), or winston-elasticsearch's buffered writer state
// (its action lines carry an extra top-level "attempts" key).
import pinoElastic from 'pino-elasticsearch'
import winston from 'winston'
import { ElasticsearchTransport } from 'winston-elasticsearch'

const [, , kind, url, index, nArg] = process.argv
const n = Number(nArg)
const out = { kind }
const timer = setTimeout(() => { out.error = 'timed out'; console.log(JSON.stringify(out)); process.exit(1) }, 60000)

if (kind === 'pino') {
  const stream = pinoElastic({ index, node: url, esVersion: 8, opType: 'create', flushBytes: 4096, flushInterval: 200 })
  stream.on('insertError', (e) => { out.insertErrors = (out.insertErrors || 0) + 1; out.lastError = String(e.message) })
  stream.on('error', (e) => { out.error = String(e.message) })
  const done = new Promise((resolve) => stream.on('insert', (stats) => { out.bulk = { total: stats.total, successful: stats.successful, failed: stats.failed }; resolve() }))
  for (let i = 0; i < n; i++) {
    stream.write(JSON.stringify({ time: new Date().toISOString(), level: 30, msg: `pino event ${i}` }) + '\n')
  }
  stream.end()
  await done
} else {
  const errors = []
  const transport = new ElasticsearchTransport({
    level: 'info', clientOpts: { node: url }, index, buffering: true, flushInterval: 200, retryLimit: 0,
  })
  transport.on('error', (e) => errors.push(String(e.message)))
  transport.on('warning', (e) => errors.push(String(e.message)))
  const logger = winston.createLogger({ transports: [transport] })
  let logged = 0
  const allLogged = new Promise((resolve) => transport.on('logged', () => { if (++logged === n) resolve() }))
  for (let i = 0; i < n; i++) logger.info(`winston event ${i}`)
  await allLogged
  // Flush until the writer's buffer is empty (each flush is one _bulk).
  while (transport.bulkWriter.bulk.length > 0) await transport.flush()
  out.errors = errors
  out.left = transport.bulkWriter.bulk.length
  logger.close()
}
clearTimeout(timer)
console.log(JSON.stringify(out))
process.exit(0)
