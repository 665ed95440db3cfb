// The app shell: sign-in, the two faces, a hash router (no router library: five routes).
import { useEffect, useRef, useState } from 'preact/hooks'
import { ArtifactView, Campaigns, ControlView, CriterionView, Overview, useCompliance } from './compliance.jsx'
import { JobPage, OptimizePage } from './optimize.jsx'

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/optimize')
  useEffect(() => {
    const on = () => setHash(location.hash || '#/optimize')
    addEventListener('hashchange', on)
    return () => removeEventListener('hashchange', on)
  }, [])
  return hash
}

function parse(hash) {
  const [path, query] = hash.slice(1).split('?')
  const parts = path.split('/').filter(Boolean)
  return { parts, query: new URLSearchParams(query || '') }
}

function SignIn({ config, auth, onSignedIn }) {
  const [name, setName] = useState('local-user')
  const [error, setError] = useState(null)
  if (auth.kind === 'local') {
    return (
      <section class="signin" aria-labelledby="signin-h">
        <h1 id="signin-h">Sign in</h1>
        <p class="identity-note" data-testid="local-identity-note"><strong>{auth.label}.</strong> This console runs against
          Charter's embedded AWS on this machine: there is no Cognito here, and the name below is who the local API
          believes you are. On AWS the same console signs in with Cognito (MFA required).</p>
        <form onSubmit={(e) => { e.preventDefault(); auth.signIn(name); onSignedIn() }}>
          <label for="local-name">Local identity</label>
          <input id="local-name" value={name} onInput={(e) => setName(e.currentTarget.value)} autocomplete="username" />
          <button type="submit" class="primary">Sign in locally</button>
        </form>
      </section>
    )
  }
  return (
    <section class="signin" aria-labelledby="signin-h">
      <h1 id="signin-h">Sign in</h1>
      <p>{config.title || 'Charter'} uses the organization's Cognito user pool. You will be asked for your password and
        your authenticator code (MFA is required).</p>
      {error && <p class="form-error" role="alert">{error}</p>}
      <button type="button" class="primary" onClick={() => auth.signIn().catch((e) => setError(e.message))}>Sign in with Cognito</button>
    </section>
  )
}

export function App({ config, auth, api, createSocket }) {
  const hash = useHash()
  const [signedIn, setSignedIn] = useState(null)
  const [bootError, setBootError] = useState(null)
  const [schema, setSchema] = useState({ doc: null, error: null })
  const socketRef = useRef(null)
  const listeners = useRef(new Set())
  const main = useRef(null)

  useEffect(() => { auth.ready().then(setSignedIn, (e) => { setBootError(e.message); setSignedIn(false) }) }, [])

  useEffect(() => {
    if (!signedIn) return undefined
    if (config.api.optimizer) {
      api.schema().then((doc) => setSchema({ doc, error: null }), (e) => setSchema({ doc: null, error: e.message }))
      if (config.api.websocket) {
        const s = createSocket({
          onMessage: (m) => listeners.current.forEach((l) => l.message(m)),
          onState: (st) => listeners.current.forEach((l) => l.state?.(st)),
        })
        socketRef.current = s
        window.__charterSocket = s // the browser tests drop it to check the reconnect
        s.connect()
        return () => s.close()
      }
    }
    return undefined
  }, [signedIn])

  useEffect(() => { main.current?.querySelector('h1')?.focus() }, [hash])

  if (signedIn === null) return <p class="boot">Starting…</p>
  if (!signedIn) {
    return (
      <main id="main" ref={main}>
        {bootError && <p class="form-error" role="alert">{bootError}</p>}
        <SignIn config={config} auth={auth} onSignedIn={() => setSignedIn(true)} />
      </main>
    )
  }

  const { parts, query } = parse(hash)
  const face = parts[0] === 'compliance' ? 'compliance' : 'optimize'
  const navigate = (h) => { location.hash = h }
  const onSocketMessage = (message, state) => {
    const l = { message, state }
    listeners.current.add(l)
    return () => listeners.current.delete(l)
  }
  const groups = auth.groups()
  const canCompliance = config.api.compliance && (auth.kind === 'local' || groups.includes('compliance'))

  return (
    <>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <span class="brand">Charter console</span>
        <nav aria-label="Faces">
          <a href="#/optimize" aria-current={face === 'optimize' ? 'page' : undefined}>Optimizations</a>
          {canCompliance && <a href="#/compliance" aria-current={face === 'compliance' ? 'page' : undefined}>Compliance</a>}
        </nav>
        <span class="who" data-testid="identity">
          {auth.user()} <span class={`idkind ${auth.kind}`}>{auth.kind === 'local' ? 'local identity' : 'Cognito'}</span>
        </span>
        <button type="button" class="link" onClick={() => { auth.signOut(); setSignedIn(false); navigate('#/optimize') }}>Sign out</button>
      </header>
      <main id="main" ref={main}>
        {face === 'optimize' ? (
          <>
            <h1 tabindex="-1">Optimizations</h1>
            {!config.api.optimizer && <p role="alert">This server has no optimizer API. Start one with <code>charter workload serve --local</code>.</p>}
            {config.api.optimizer && parts[0] === 'jobs' && parts[1]
              ? <JobPage key={parts[1]} api={api} socket={socketRef.current} jobId={parts[1]} onSocketMessage={onSocketMessage} />
              : config.api.optimizer && <OptimizePage api={api} schema={schema} navigate={navigate} />}
          </>
        ) : (
          <ComplianceFace api={api} parts={parts} query={query} />
        )}
      </main>
    </>
  )
}

function ComplianceFace({ api, parts, query }) {
  const { data, error } = useCompliance(api)
  const view = parts[1] || 'overview'
  return (
    <>
      <h1 tabindex="-1">Compliance</h1>
      <nav class="subnav" aria-label="Compliance views">
        <a href="#/compliance" aria-current={view === 'overview' ? 'page' : undefined}>Criteria</a>
        <a href="#/compliance/reviews" aria-current={view === 'reviews' ? 'page' : undefined}>Access reviews</a>
      </nav>
      {error && <p class="form-error" role="alert">{error}</p>}
      {!data && !error && <p>Reading and verifying the evidence store…</p>}
      {data && view === 'overview' && <Overview data={data} />}
      {data && view === 'criteria' && <CriterionView data={data} id={parts[2]} />}
      {data && view === 'controls' && <ControlView data={data} id={parts[2]} />}
      {data && view === 'artifact' && <ArtifactView api={api} path={query.get('path') || ''} />}
      {data && view === 'reviews' && <Campaigns data={data} />}
    </>
  )
}
