// CloudWatch RUM reporting, on AWS only (config.rum is null locally).
//
// A minimal client for PutRumEvents rather than the aws-rum-web package: that package is
// ~60 KB gzipped with its AWS SDK pieces and defaults to fetching itself from a CDN, while
// the console must load nothing from outside its origin. This does what the console needs:
// page views, JavaScript errors and navigation timing, sampled per session at the org
// config's rate, sent with credentials of the identity pool's role for signed-in users
// (which may only rum:PutRumEvents on this app monitor) and signed with SigV4 through
// WebCrypto. The identity pool trusts only the console's user pool: the user's ID token is
// the login (basic flow: GetId -> GetOpenIdToken -> STS AssumeRoleWithWebIdentity), so
// nothing is sent before sign-in and no guest identity exists.

const enc = new TextEncoder()
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('')
const sha256 = async (data) => hex(await crypto.subtle.digest('SHA-256', typeof data === 'string' ? enc.encode(data) : data))

async function hmac(key, data) {
  const k = await crypto.subtle.importKey('raw', typeof key === 'string' ? enc.encode(key) : key,
    { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return crypto.subtle.sign('HMAC', k, enc.encode(data))
}

// SigV4 for a JSON POST with no query string (what PutRumEvents is).
export async function signRequest({ method, url, body, region, service, credentials, amzDate }) {
  const u = new URL(url)
  const date = amzDate || new Date().toISOString().replace(/[:-]|\.\d{3}/g, '')
  const day = date.slice(0, 8)
  const headers = { 'content-type': 'application/json', host: u.host, 'x-amz-date': date }
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken
  const names = Object.keys(headers).sort()
  const canonical = [method, u.pathname.split('/').map(encodeURIComponent).join('/'), u.search.slice(1),
    names.map((n) => `${n}:${headers[n]}\n`).join(''), names.join(';'), await sha256(body)].join('\n')
  const scope = `${day}/${region}/${service}/aws4_request`
  const toSign = ['AWS4-HMAC-SHA256', date, scope, await sha256(canonical)].join('\n')
  let key = await hmac(`AWS4${credentials.secretAccessKey}`, day)
  for (const part of [region, service, 'aws4_request']) key = await hmac(key, part)
  const signature = hex(await hmac(key, toSign))
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}` }
}

async function cognito(region, target, payload) {
  const resp = await fetch(`https://cognito-identity.${region}.amazonaws.com/`, {
    method: 'POST', body: JSON.stringify(payload),
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `AWSCognitoIdentityService.${target}` },
  })
  if (!resp.ok) throw new Error(`cognito-identity ${target}: ${resp.status}`)
  return resp.json()
}

async function credentialsFor(cfg, idToken) {
  const cached = JSON.parse(sessionStorage.getItem('charter.rum.credentials') || 'null')
  if (cached && cached.expiration - Date.now() > 60_000) return cached
  const Logins = { [cfg.user_pool_provider]: idToken }
  const idKey = 'charter.rum.identity'
  let identityId = sessionStorage.getItem(idKey)
  if (!identityId) {
    identityId = (await cognito(cfg.region, 'GetId', { IdentityPoolId: cfg.identity_pool_id, Logins })).IdentityId
    sessionStorage.setItem(idKey, identityId)
  }
  const { Token } = await cognito(cfg.region, 'GetOpenIdToken', { IdentityId: identityId, Logins })
  const q = new URLSearchParams({ Action: 'AssumeRoleWithWebIdentity', Version: '2011-06-15', RoleArn: cfg.guest_role_arn,
    RoleSessionName: 'charter-console-rum', WebIdentityToken: Token, DurationSeconds: '3600' })
  const resp = await fetch(`https://sts.${cfg.region}.amazonaws.com/?${q}`, { method: 'POST' })
  if (!resp.ok) throw new Error(`sts AssumeRoleWithWebIdentity: ${resp.status}`)
  const xml = new DOMParser().parseFromString(await resp.text(), 'application/xml')
  const text = (tag) => xml.getElementsByTagName(tag)[0]?.textContent || ''
  const creds = { accessKeyId: text('AccessKeyId'), secretAccessKey: text('SecretAccessKey'), sessionToken: text('SessionToken'),
    expiration: Date.parse(text('Expiration')) || Date.now() + 3_000_000, identityId }
  sessionStorage.setItem('charter.rum.credentials', JSON.stringify(creds))
  return creds
}

const uuid = () => crypto.randomUUID()

export function startRum(cfg, idToken) {
  const sessionKey = 'charter.rum.session'
  let session = JSON.parse(sessionStorage.getItem(sessionKey) || 'null')
  if (!session) {
    session = { id: uuid(), sampled: Math.random() < (cfg.sample_rate ?? 0) }
    sessionStorage.setItem(sessionKey, JSON.stringify(session))
  }
  if (!session.sampled) return null
  const queue = []
  const metadata = JSON.stringify({ version: '1.0.0', domain: location.hostname, pageId: location.hash || '/',
    title: document.title, browserLanguage: navigator.language, aws: { client: 'charter-console', clientVersion: cfg.app_version || '1' } })
  const record = (type, details) => queue.push({ id: uuid(), timestamp: Math.floor(Date.now() / 1000),
    type: `com.amazon.rum.${type}`, details: JSON.stringify(details), metadata })

  async function flush() {
    const token = await idToken()
    if (!queue.length || !token) return // before sign-in: kept until there is a user
    const events = queue.splice(0, 100)
    try {
      const credentials = await credentialsFor(cfg, token)
      const url = `https://dataplane.rum.${cfg.region}.amazonaws.com/appmonitors/${cfg.app_monitor_id}/`
      const body = JSON.stringify({ BatchId: uuid(), AppMonitorDetails: { id: cfg.app_monitor_id, version: cfg.app_version || '1' },
        UserDetails: { sessionId: session.id, userId: credentials.identityId }, RumEvents: events })
      const headers = await signRequest({ method: 'POST', url, body, region: cfg.region, service: 'rum', credentials })
      delete headers.host // the browser sets it
      await fetch(url, { method: 'POST', body, headers, keepalive: true })
    } catch {
      // telemetry never breaks the app; the events are dropped
    }
  }

  record('session_start_event', { version: '1.0.0' })
  const page = () => record('page_view_event', { version: '1.0.0', pageId: location.hash || '/', interaction: 0 })
  page()
  addEventListener('hashchange', page)
  addEventListener('error', (e) => record('js_error_event', { version: '1.0.0', type: e.error?.name || 'Error', message: String(e.message).slice(0, 500) }))
  addEventListener('unhandledrejection', (e) => record('js_error_event', { version: '1.0.0', type: 'UnhandledRejection', message: String(e.reason).slice(0, 500) }))
  const nav = performance.getEntriesByType('navigation')[0]
  if (nav) record('performance_navigation_event', { version: '1.0.0', initiatorType: 'navigation', startTime: 0, duration: nav.duration,
    navigationTimingLevel: 2, domComplete: nav.domComplete, loadEventEnd: nav.loadEventEnd })
  const timer = setInterval(flush, cfg.flush_seconds ? cfg.flush_seconds * 1000 : 15_000)
  addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flush() })
  flush()
  return { flush, stop: () => clearInterval(timer) }
}
