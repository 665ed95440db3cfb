// Who the user is, and how requests carry it.
//
// On AWS: Cognito's hosted UI with the authorization-code flow and PKCE (RFC 7636), for a
// public client (no secret in the app). The user pool requires MFA, so the hosted UI asks
// for the TOTP code; the app never sees a password. Tokens stay in sessionStorage (gone
// with the tab) and the ID token is refreshed before it expires.
// Locally: a named local identity, clearly labelled, sent as X-Charter-User (REST) and
// ?user= (WebSocket), which the local API server maps to the Cognito claims the handlers read.

const LOCAL_KEY = 'charter.local-identity'
const TOKENS_KEY = 'charter.tokens'
const PKCE_KEY = 'charter.pkce'

function b64url(bytes) {
  let s = ''
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b)
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export function decodeJwt(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    const text = atob(part + '='.repeat((4 - (part.length % 4)) % 4))
    return JSON.parse(decodeURIComponent(escape(text)))
  } catch {
    return {}
  }
}

function localAuth(config) {
  return {
    kind: 'local',
    label: config.identity.label,
    user: () => sessionStorage.getItem(LOCAL_KEY),
    groups: () => ['portfolio-managers', 'compliance'],
    async ready() { return this.user() !== null },
    signIn(name) {
      sessionStorage.setItem(LOCAL_KEY, (name || 'local-user').trim() || 'local-user')
    },
    signOut() { sessionStorage.removeItem(LOCAL_KEY) },
    async headers() { return { 'X-Charter-User': this.user() || 'local-user' } },
    async wsParams() { return { user: this.user() || 'local-user' } },
    async idToken() { return null },
  }
}

function cognitoAuth(config) {
  const c = config.identity
  const redirectUri = `${location.origin}/`
  const load = () => { try { return JSON.parse(sessionStorage.getItem(TOKENS_KEY)) } catch { return null } }
  const save = (t) => sessionStorage.setItem(TOKENS_KEY, JSON.stringify(t))

  async function token(body) {
    const resp = await fetch(`${c.domain}/oauth2/token`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: c.client_id, ...body }),
    })
    if (!resp.ok) throw new Error(`sign-in failed (${resp.status}); sign in again`)
    const data = await resp.json()
    const old = load() || {}
    const tokens = { id: data.id_token, access: data.access_token, refresh: data.refresh_token || old.refresh,
      expires: Date.now() + (data.expires_in || 3600) * 1000 }
    save(tokens)
    return tokens
  }

  async function current() {
    let t = load()
    if (t && t.expires - Date.now() < 60_000 && t.refresh) {
      try { t = await token({ grant_type: 'refresh_token', refresh_token: t.refresh }) } catch { t = null }
    }
    return t && t.expires > Date.now() ? t : null
  }

  return {
    kind: 'cognito',
    label: 'Signed in with Cognito (MFA required by the user pool)',
    user() { const t = load(); const claims = t ? decodeJwt(t.id) : {}; return claims.email || claims['cognito:username'] || null },
    groups() { const t = load(); return (t && decodeJwt(t.id)['cognito:groups']) || [] },
    async ready() {
      const params = new URLSearchParams(location.search)
      if (params.has('code')) {
        const pkce = JSON.parse(sessionStorage.getItem(PKCE_KEY) || '{}')
        sessionStorage.removeItem(PKCE_KEY)
        history.replaceState(null, '', `/${pkce.hash || '#/optimize'}`)
        if (!pkce.state || params.get('state') !== pkce.state) throw new Error('sign-in response does not match this tab; sign in again')
        await token({ grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectUri,
          code_verifier: pkce.verifier })
      }
      return (await current()) !== null
    },
    async signIn() {
      const verifier = b64url(crypto.getRandomValues(new Uint8Array(48)))
      const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)))
      const state = b64url(crypto.getRandomValues(new Uint8Array(16)))
      sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state, hash: location.hash }))
      const q = new URLSearchParams({ response_type: 'code', client_id: c.client_id, redirect_uri: redirectUri,
        scope: 'openid email profile', code_challenge_method: 'S256', code_challenge: challenge, state })
      location.assign(`${c.domain}/oauth2/authorize?${q}`)
    },
    signOut() {
      sessionStorage.removeItem(TOKENS_KEY)
      location.assign(`${c.domain}/logout?${new URLSearchParams({ client_id: c.client_id, logout_uri: redirectUri })}`)
    },
    async headers() {
      const t = await current()
      if (!t) throw new Error('your session has ended; sign in again')
      const h = { Authorization: t.id }
      if (config.api.key) h['x-api-key'] = config.api.key
      return h
    },
    async wsParams() { const t = await current(); return { token: t ? t.id : '' } },
    async idToken() { const t = await current(); return t ? t.id : null },
  }
}

export function createAuth(config) {
  return config.identity.kind === 'cognito' ? cognitoAuth(config) : localAuth(config)
}
