// Drives one official Node.js Elasticsearch client through esgate:
// node clients.mjs es8|es9 URL INDEX. Prints one JSON line: the client's
// version, then info's version, the bulk helper's stats for 500 documents
// and the search's hit count; or the error's status and type.
import { readFileSync } from 'node:fs'
const [, , pkg, url, index] = process.argv
const { Client } = await import(pkg)
const version = JSON.parse(readFileSync(new URL(`node_modules/${pkg}/package.json`, import.meta.url))).version
const client = new Client({ node: url })
const out = { client: version }
try {
  const info = await client.info()
  out.server = info.version.number
  const docs = Array.from({ length: 500 }, (_, i) => ({ '@timestamp': '2026-12-01T00:00:00Z', message: `node event ${i}` }))
  const stats = await client.helpers.bulk({ datasource: docs, onDocument: () => ({ create: { _index: index } }) })
  out.bulk = { total: stats.total, successful: stats.successful, failed: stats.failed }
  const res = await client.search({ index, query: { match_all: {} }, size: 0, track_total_hits: true })
  out.hits = res.hits.total.value
} catch (e) {
  out.error = { status: e.meta?.statusCode, type: e.body?.error?.type, cause: e.body?.error?.caused_by?.reason }
}
console.log(JSON.stringify(out))
