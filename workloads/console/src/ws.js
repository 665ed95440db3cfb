// Job progress over the WebSocket API, reconnecting after a drop.
//
// One socket per tab. Subscriptions are remembered and sent again after every reconnect
// (a new connection has none on the server). A dropped connection is retried with
// exponential backoff and jitter (0.5 s doubling to 30 s); API Gateway closes idle
// connections after 10 minutes, so a ping goes every 5.

const PING_MS = 5 * 60 * 1000

export class JobSocket {
  constructor(url, params, { onMessage, onState }) {
    this.url = url
    this.params = params // async () => query parameters (the token may be refreshed)
    this.onMessage = onMessage
    this.onState = onState
    this.subscriptions = new Set()
    this.attempt = 0
    this.stopped = false
    this.state = 'connecting'
  }

  setState(state) { this.state = state; this.onState?.(state) }

  async connect() {
    if (this.stopped) return
    this.setState(this.attempt ? 'reconnecting' : 'connecting')
    const q = new URLSearchParams(await this.params())
    const target = new URL(this.url, location.href)
    target.protocol = target.protocol === 'https:' || target.protocol === 'wss:' ? 'wss:' : 'ws:'
    for (const [k, v] of q) target.searchParams.set(k, v)
    let ws
    try { ws = new WebSocket(target.href) } catch { this.retry(); return }
    this.ws = ws
    ws.onopen = () => {
      this.attempt = 0
      this.setState('open')
      for (const id of this.subscriptions) this.send({ action: 'subscribe', job_id: id })
      clearInterval(this.pinger)
      this.pinger = setInterval(() => this.send({ action: 'ping' }), PING_MS)
    }
    ws.onmessage = (e) => { try { this.onMessage?.(JSON.parse(e.data)) } catch { /* not JSON: ignore */ } }
    ws.onclose = () => { clearInterval(this.pinger); if (this.ws === ws) this.retry() }
    ws.onerror = () => { /* onclose follows */ }
  }

  retry() {
    if (this.stopped) return
    this.setState('reconnecting')
    const delay = Math.min(30_000, 500 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5)
    this.attempt += 1
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.connect(), delay)
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) { this.ws.send(JSON.stringify(message)); return true }
    return false
  }

  subscribe(jobId) {
    this.subscriptions.add(jobId)
    this.send({ action: 'subscribe', job_id: jobId })
  }

  unsubscribe(jobId) {
    this.subscriptions.delete(jobId)
    this.send({ action: 'unsubscribe', job_id: jobId })
  }

  close() {
    this.stopped = true
    clearTimeout(this.timer)
    clearInterval(this.pinger)
    this.ws?.close()
    this.setState('closed')
  }
}
