// The optimizations face: the job form, the user's jobs, live progress and results.
import { useEffect, useRef, useState } from 'preact/hooks'
import { FrontierChart, LineChart, WeightsChart } from './charts.jsx'
import { JobForm } from './form.jsx'
import { csv, download, label, metric, num, pct, when } from './format.js'

const PAGE = 10
const MAX_RESULT_PAGES = 50

export function OptimizePage({ api, schema, navigate }) {
  return (
    <div class="two-col">
      <section aria-labelledby="new-job">
        <h2 id="new-job">New optimization</h2>
        {schema.error && <p class="form-error" role="alert">{schema.error}</p>}
        {schema.doc && <JobForm doc={schema.doc} api={api} onSubmitted={(job) => navigate(`#/jobs/${job.job_id}`)} />}
        {!schema.doc && !schema.error && <p>Reading the job schema…</p>}
      </section>
      <JobsList api={api} />
    </div>
  )
}

export function JobsList({ api }) {
  const [cursors, setCursors] = useState([null])
  const [page, setPage] = useState(null)
  const [error, setError] = useState(null)
  const cursor = cursors[cursors.length - 1]
  useEffect(() => {
    let live = true
    api.jobs(PAGE, cursor).then((p) => live && setPage(p), (e) => live && setError(e.message))
    return () => { live = false }
  }, [cursor])
  return (
    <section aria-labelledby="your-jobs" class="jobs">
      <h2 id="your-jobs">Your jobs</h2>
      {error && <p class="form-error" role="alert">{error}</p>}
      {page && page.items.length === 0 && <p>No jobs yet.</p>}
      {page && page.items.length > 0 && (
        <table class="data">
          <caption class="sr-only">Your optimization jobs, newest first (page {cursors.length})</caption>
          <thead><tr><th scope="col">Submitted</th><th scope="col">Objective</th><th scope="col">Status</th></tr></thead>
          <tbody>
            {page.items.map((j) => (
              <tr key={j.job_id}>
                <td><a href={`#/jobs/${j.job_id}`}>{when(j.created_at)}</a></td>
                <td>{label(j.objective || '')}</td>
                <td><span class={`badge job-${j.status.toLowerCase()}`}>{j.status}</span></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Jobs pages">
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>Newer</button>
        <span>Page {cursors.length}</span>
        <button type="button" disabled={!page?.next_cursor} onClick={() => setCursors([...cursors, page.next_cursor])}>Older</button>
      </nav>
    </section>
  )
}

function Progress({ job, updates, socketState }) {
  const value = Math.round((job.progress || 0) * 100)
  return (
    <section aria-labelledby="progress-h" class="progress-panel">
      <h2 id="progress-h">Progress</h2>
      <p>
        <span class={`badge job-${job.status.toLowerCase()}`} data-testid="job-status">{job.status}</span>{' '}
        <span class={`conn ${socketState}`} data-testid="socket-state">
          {socketState === 'open' ? 'live updates connected' : socketState === 'reconnecting' ? 'reconnecting…' : socketState}
        </span>
      </p>
      <div class="meter" role="progressbar" aria-label="Job progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={value}>
        <div class="meter-fill" style={{ width: `${value}%` }} />
      </div>
      <dl class="facts">
        <dt>Step</dt><dd data-testid="job-step">{job.step ? label(job.step) : '–'} — {job.message || '…'}</dd>
        <dt>Trials done</dt><dd data-testid="trials">{job.trials_total ? `${job.trials_done} of ${job.trials_total}` : '–'}</dd>
        <dt>Best score so far</dt><dd data-testid="best-score">{job.best_score === undefined || job.best_score === null ? '–' : num(job.best_score, 3)}</dd>
      </dl>
      {job.error && <p class="form-error" role="alert">{job.error}</p>}
      <h3>Live updates</h3>
      <ol class="updates" aria-live="polite" data-testid="updates">
        {updates.map((u, i) => (
          <li key={i}>{u.at} · {u.status} · {Math.round((u.progress || 0) * 100)}% · {u.message}</li>
        ))}
      </ol>
    </section>
  )
}

async function loadResults(api, jobId) {
  const first = await api.results(jobId, 0)
  const rows = [...(first.page_url ? (await api.page(first.page_url)).items : first.items)]
  let next = first.next_page
  let pages = 1
  while (next !== null && next !== undefined && pages < MAX_RESULT_PAGES) {
    const p = await api.results(jobId, next)
    rows.push(...(p.page_url ? (await api.page(p.page_url)).items : p.items))
    next = p.next_page
    pages += 1
  }
  return { summary: first.summary, rows, download: first.download_url, pageCount: first.page_count, truncated: next != null }
}

function Metrics({ title, values }) {
  const entries = Object.entries(values || {}).filter(([, v]) => typeof v === 'number' || typeof v === 'string')
  if (!entries.length) return null
  return (
    <div class="metrics">
      <h3>{title}</h3>
      <dl class="facts">
        {entries.map(([k, v]) => [<dt key={`${k}t`}>{label(k)}</dt>, <dd key={`${k}d`} data-metric={k}>{metric(k, v)}</dd>])}
      </dl>
    </div>
  )
}

function Results({ result, jobId }) {
  const { summary, rows } = result
  const weights = summary.weights || {}
  const backtest = rows.filter((r) => r.kind === 'backtest')
  let peak = -Infinity
  const drawdown = backtest.map((r) => { peak = Math.max(peak, r.wealth); return { x: r.date, y: r.wealth / peak - 1 } })
  const risk = summary.risk || {}
  const frontier = summary.frontier && summary.frontier.points?.length > 1 ? summary.frontier : null
  return (
    <section aria-labelledby="results-h" class="results">
      <h2 id="results-h">Results</h2>
      <div class="downloads">
        <a class="button" href={result.download} download={`job-${jobId}.json`}>Download all results (JSON)</a>
        <button type="button" onClick={() => download(`job-${jobId}-weights.csv`, csv(Object.entries(weights).map(([asset, weight]) => ({ asset, weight })), ['asset', 'weight']))}>Weights (CSV)</button>
        {backtest.length > 0 && <button type="button" onClick={() => download(`job-${jobId}-backtest.csv`, csv(backtest, ['date', 'return', 'wealth']))}>Backtest (CSV)</button>}
        <button type="button" onClick={() => download(`job-${jobId}-pages.json`, JSON.stringify({ summary, rows }, null, 1), 'application/json')}>Result pages (JSON, {result.pageCount} pages)</button>
      </div>
      <div class="grid2">
        <div>
          <h3>Weights</h3>
          <WeightsChart weights={weights} />
        </div>
        <table class="data" data-testid="weights-table">
          <caption>Weights and risk contributions</caption>
          <thead><tr><th scope="col">Asset</th><th scope="col">Weight</th><th scope="col">Risk contribution</th></tr></thead>
          <tbody>
            {Object.entries(weights).sort((a, b) => b[1] - a[1]).map(([a, w]) => (
              <tr key={a}><th scope="row">{a}</th><td>{pct(w, 2)}</td><td>{pct(risk.risk_contributions?.[a], 2)}</td></tr>
            ))}
          </tbody>
        </table>
      </div>
      <div class="grid2">
        <Metrics title="Risk of the final weights" values={Object.fromEntries(Object.entries(risk).filter(([k]) => k !== 'risk_contributions' && k !== 'flags'))} />
        {summary.backtest && <Metrics title="Walk-forward backtest" values={summary.backtest} />}
      </div>
      {backtest.length > 0 && (
        <>
          <h3>Equity curve</h3>
          <LineChart id="equity" title="Equity curve (growth of 1)" points={backtest.map((r) => ({ x: r.date, y: r.wealth }))} yFormat={(v) => num(v, 2)} />
          <h3>Drawdown</h3>
          <LineChart id="drawdown" title="Drawdown from the running peak" points={drawdown} area baseline={0} />
        </>
      )}
      {frontier && (
        <>
          <h3>Efficient frontier</h3>
          <FrontierChart frontier={frontier} />
        </>
      )}
      {summary.search && <Metrics title="Hyperparameter search" values={{ holdout_sharpe: summary.search.holdout_sharpe, deflated_sharpe: summary.search.deflated_sharpe, failures: summary.search.failures, ...Object.fromEntries(Object.entries(summary.search.best_config || {}).map(([k, v]) => [`best_${k}`, v])) }} />}
    </section>
  )
}

export function JobPage({ api, socket, jobId, onSocketMessage }) {
  const [job, setJob] = useState(null)
  const [updates, setUpdates] = useState([])
  const [result, setResult] = useState(null)
  const [error, setError] = useState(null)
  const [socketState, setSocketState] = useState(socket ? socket.state : 'unavailable')
  const versionRef = useRef(0)

  function apply(status, live) {
    if (status.job_id !== jobId || status.version < versionRef.current) return
    versionRef.current = status.version
    setJob(status)
    if (live) setUpdates((u) => [...u, { ...status, at: new Date().toISOString().slice(11, 19) }])
  }

  useEffect(() => {
    versionRef.current = 0
    setJob(null); setUpdates([]); setResult(null); setError(null)
    api.status(jobId).then((s) => apply(s, false), (e) => setError(e.message))
    if (!socket) return undefined
    const off = onSocketMessage((m) => { if (m.type === 'status') apply(m, true) }, setSocketState)
    socket.subscribe(jobId)
    setSocketState(socket.state)
    // without a socket message for a while (e.g. during a reconnect), poll the status instead
    const poll = setInterval(() => { if (socket.state !== 'open') api.status(jobId).then((s) => apply(s, false), () => {}) }, 5000)
    return () => { off(); socket.unsubscribe(jobId); clearInterval(poll) }
  }, [jobId])

  useEffect(() => {
    if (job?.status === 'SUCCEEDED' && !result) loadResults(api, jobId).then(setResult, (e) => setError(e.message))
  }, [job?.status])

  return (
    <div>
      <p><a href="#/optimize">← All jobs</a></p>
      <h2 class="sub">Job <code>{jobId}</code>{job?.objective && ` · ${label(job.objective)}`}</h2>
      {error && <p class="form-error" role="alert">{error}</p>}
      {job && <Progress job={job} updates={updates} socketState={socketState} />}
      {result && <Results result={result} jobId={jobId} />}
    </div>
  )
}
