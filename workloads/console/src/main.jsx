// Entry: read the runtime config (served beside index.html), then start the app.
import { render } from 'preact'
import { createApi } from './api.js'
import { App } from './app.jsx'
import { createAuth } from './auth.js'
import './style.css'
import { JobSocket } from './ws.js'

async function boot() {
  const root = document.getElementById('app')
  let config
  try {
    const resp = await fetch('/config.json', { cache: 'no-store' })
    if (!resp.ok) throw new Error(`config.json: ${resp.status}`)
    config = await resp.json()
  } catch (e) {
    render(<p class="form-error" role="alert">The console cannot read its configuration ({e.message}).</p>, root)
    return
  }
  document.title = config.title ? `Charter console · ${config.title}` : 'Charter console'
  const auth = createAuth(config)
  const api = createApi(config, auth)
  const createSocket = (handlers) => new JobSocket(config.api.websocket, () => auth.wsParams(), handlers)
  if (config.rum) {
    // CloudWatch RUM on AWS only, loaded after the app (its own chunk: not in the first load)
    import('./rum.js').then((m) => { window.__charterRum = m.startRum(config.rum, () => auth.idToken()) }).catch(() => {})
  }
  root.textContent = ''
  render(<App config={config} auth={auth} api={api} createSocket={createSocket} />, root)
}

boot()
