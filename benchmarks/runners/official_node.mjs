// Runner: the official Node client, @motiadev/stream-client-node (installed by
// benchmarks/setup_peers.py into benchmarks/.peers/node).
//
//   node benchmarks/runners/official_node.mjs --url ws://127.0.0.1:PORT/ \
//        --group n100-m100000-r0-s1 [--sort-key createdAt] [--item todo-000042]
//
// The same contract as the Python runners (benchmarks/runners/_common.py): one change
// listener that finds the update a change applied at position indices[k] (the LCG of
// benchmarks/workload.py, mirrored below), one JSON result line on stdout, exit 0 when
// the run completed, 1 when it did not, 3 when the client is not installed.

import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'
import { pathToFileURL, fileURLToPath } from 'node:url'

const NAME = 'official_node'
const DONE_EVENT = 'bench-done'
const SCAN_LIMIT = 4096
const PEERS = fileURLToPath(new URL('../.peers/node/', import.meta.url))

function parseArgs(argv) {
  const args = { stream: 'bench', sortKey: undefined, item: undefined, timeout: 300 }
  for (let i = 0; i < argv.length; i += 2) {
    const [key, value] = [argv[i], argv[i + 1]]
    if (key === '--url') args.url = value
    else if (key === '--group') args.group = value
    else if (key === '--stream') args.stream = value
    else if (key === '--sort-key') args.sortKey = value
    else if (key === '--item') args.item = value
    else if (key === '--timeout') args.timeout = Number(value)
    else throw new Error(`unknown option ${key}`)
  }
  const match = /^n(\d+)-m(\d+)-r(\d+)-s(\d+)(-u)?$/.exec(args.group ?? '')
  if (!args.url || !match) throw new Error('usage: --url ws://127.0.0.1:PORT/ --group n100-m1000-r0-s1')
  if (!/^ws:\/\/(127\.0\.0\.1|localhost):/.test(args.url)) throw new Error('benchmarks only run on loopback')
  const [n, m, rate, seed] = match.slice(1, 5).map(Number)
  return { ...args, n, m, rate, seed }
}

// benchmarks/workload.py indices(): a 32-bit LCG, exact in doubles (< 2**53).
function indices(n, m, seed) {
  let state = seed >>> 0
  const out = new Int32Array(m)
  for (let k = 0; k < m; k++) {
    state = (state * 1664525 + 1013904223) % 4294967296
    out[k] = Math.floor(state / 256) % n
  }
  return out
}

const itemId = (i) => `todo-${String(i).padStart(6, '0')}`
const nowNs = () => (performance.timeOrigin + performance.now()) * 1e6

function emit(result, code) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(code))
}

function percentile(sorted, q) {
  if (sorted.length === 0) return null
  const pos = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))
  return Math.round(sorted[pos] / 1e3) / 1e3 // ns -> ms, 3 decimals
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  let client
  try {
    const require = createRequire(PEERS + 'package.json')
    client = await import(pathToFileURL(require.resolve('@motiadev/stream-client-node')).href)
  } catch (err) {
    emit({ runner: NAME, unavailable: true, error: `${err.message}; run python -m benchmarks.setup_peers` }, 3)
    return
  }

  const idx = args.item ? null : indices(args.n, args.m, args.seed)
  const latencies = new Float64Array(args.m)
  let applied = 0
  let next = 0
  let unmatched = 0
  let lastState = null
  let tSync = null
  let cpuSync = null
  let tDone = null
  let cpuDone = null
  let doneData = {}
  let error = null

  const markSync = () => {
    tSync = nowNs()
    cpuSync = process.cpuUsage()
  }

  const onGroupChange = (items) => {
    const now = nowNs()
    lastState = items
    if (tSync === null) {
      if (items.length !== args.n) return void unmatched++
      for (let i = 0; i < args.n; i++) {
        if (items[i].id !== itemId(i)) {
          error = `items are not in sync order: position ${i} holds ${items[i].id}`
          break
        }
      }
      return markSync()
    }
    const stop = Math.min(args.m, next + SCAN_LIMIT)
    for (let j = next; j < stop; j++) {
      const item = items[idx[j]]
      if (item.seq === j) {
        latencies[applied++] = now - item.sentNs
        next = j + 1
        return
      }
    }
    unmatched++
  }

  const onItemChange = (item) => {
    const now = nowNs()
    lastState = item
    if (item == null) return void unmatched++
    if (tSync === null) return item.seq === -1 ? markSync() : void unmatched++
    if (item.seq >= next) {
      latencies[applied++] = now - item.sentNs
      next = item.seq + 1
    } else unmatched++
  }

  const staleItems = () => {
    if (args.item) return lastState && lastState.seq === args.m - 1 ? 0 : 1
    if (!lastState || lastState.length !== args.n) return args.n
    const expected = new Int32Array(args.n).fill(-1)
    for (let k = 0; k < args.m; k++) expected[idx[k]] = k
    let stale = 0
    for (let i = 0; i < args.n; i++) if (lastState[i].seq !== expected[i]) stale++
    return stale
  }

  const stream = new client.Stream(args.url)
  const sub = args.item
    ? stream.subscribeItem(args.stream, args.group, args.item)
    : stream.subscribeGroup(args.stream, args.group, args.sortKey)
  sub.addChangeListener(args.item ? onItemChange : onGroupChange)

  await new Promise((resolve) => {
    const timer = setTimeout(() => {
      error ??= `timed out after ${args.timeout} s`
      resolve()
    }, args.timeout * 1000)
    sub.onEvent(DONE_EVENT, (data) => {
      tDone = nowNs()
      cpuDone = process.cpuUsage()
      doneData = data ?? {}
      clearTimeout(timer)
      resolve()
    })
    stream.ws.onClose(() => {
      if (tDone === null) {
        error ??= 'the official client lost its connection'
        clearTimeout(timer)
        resolve()
      }
    })
  })
  stream.close()

  const sent = doneData.sent
  const sorted = latencies.subarray(0, applied).sort()
  const result = {
    runner: NAME,
    n: args.n,
    m: args.m,
    rate: args.rate,
    sort_key: args.sortKey ?? null,
    item: args.item ?? null,
    sent: sent ?? null,
    applied,
    lost: Number.isInteger(sent) ? sent - applied : null,
    stale_items: tDone !== null ? staleItems() : null,
    unmatched_calls: unmatched,
  }
  if (tSync !== null && tDone !== null && Number.isInteger(sent)) {
    // From the sync, or from the first update if the server paused after the sync.
    const elapsed = (tDone - Math.max(tSync, doneData.server?.first_ns ?? 0)) / 1e9
    const cpu = (cpuDone.user - cpuSync.user + cpuDone.system - cpuSync.system) / 1e6
    result.elapsed_s = Math.round(elapsed * 1e4) / 1e4
    result.msgs_per_s = elapsed > 0 ? Math.round(sent / elapsed) : null
    result.cpu_s = Math.round(cpu * 1e4) / 1e4
    result.cpu_us_per_msg = sent ? Math.round((cpu / sent) * 1e9) / 1e3 : null
  }
  result.p50_ms = percentile(sorted, 0.5)
  result.p99_ms = percentile(sorted, 0.99)
  result.max_ms = percentile(sorted, 1)
  result.rss_mb = Math.round(process.resourceUsage().maxRSS / 102.4) / 10
  result.server = doneData.server ?? null
  result.notes = [`node ${process.version}`]
  if (error === null && tDone === null) error = 'no bench-done received'
  if (error !== null) result.error = error
  emit(result, error === null ? 0 : 1)
}

main().catch((err) => emit({ runner: NAME, error: `crashed: ${err?.stack ?? err}` }, 1))
