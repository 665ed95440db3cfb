// The compliance face: criteria, control status, coverage, trend, drill-down to the artifact,
// the store's verification, and the access-review campaigns.
import { useEffect, useState } from 'preact/hooks'
import { CoverageChart, Legend, STATUS_LABEL, STATUS_ORDER, TrendChart } from './charts.jsx'
import { when } from './format.js'

export function Badge({ status }) {
  return <span class={`badge st-${status}`} data-status={status}>{STATUS_LABEL[status] || status}</span>
}

export function useCompliance(api) {
  const [state, setState] = useState({ data: null, error: null })
  useEffect(() => {
    let live = true
    api.compliance().then((data) => live && setState({ data, error: null }),
      (e) => live && setState({ data: null, error: e.status === 403 ? 'The compliance view is for members of the compliance group.' : e.message }))
    return () => { live = false }
  }, [])
  return state
}

function Verification({ v }) {
  return (
    <section aria-labelledby="verif-h" class={`verification ${v.ok ? 'ok' : 'failed'}`} data-testid="verification">
      <h2 id="verif-h">Verification: {v.ok ? 'intact' : 'FAILED'}</h2>
      <p>{v.summary}. Checked {when(v.checked_at)}.</p>
      {v.last_sha256 && <p class="mono">Last manifest SHA-256 {v.last_sha256}</p>}
      {!v.ok && (
        <ul>{v.problems.map((p, i) => <li key={i}><code>{p.item}</code>: {p.kind}: {p.detail}</li>)}</ul>
      )}
      {v.problem_count > v.problems.length && <p>…and {v.problem_count - v.problems.length} more (run <code>charter evidence verify</code>).</p>}
    </section>
  )
}

export function Overview({ data }) {
  const [filter, setFilter] = useState('all')
  const rows = data.criteria.filter((c) => filter === 'all' || c.status === filter)
  return (
    <div>
      <ul class="cards" aria-label="Controls by status">
        {STATUS_ORDER.map((s) => (
          <li key={s} class={`card st-${s}`}><span class="count" data-count={s}>{data.counts[s]}</span> <span>{STATUS_LABEL[s]} controls</span></li>
        ))}
      </ul>
      <p>Latest run {data.latest_run ? `#${data.latest_run.sequence} (${data.latest_run.run_id}, sealed ${when(data.latest_run.sealed_at)})` : 'none'} · store <code>{data.store}</code></p>
      <Verification v={data.verification} />
      <div class="grid2">
        <section aria-labelledby="cov-h">
          <h2 id="cov-h">Coverage per criteria group</h2>
          <Legend items={STATUS_ORDER} />
          <CoverageChart families={data.families} />
        </section>
        <section aria-labelledby="trend-h">
          <h2 id="trend-h">Trend over {data.trend.length} run(s)</h2>
          <Legend items={['passing', 'failing', 'gap', 'attestation_due']} />
          <TrendChart trend={data.trend} />
        </section>
      </div>
      <section aria-labelledby="crit-h">
        <h2 id="crit-h">The {data.criteria.length} criteria</h2>
        <label for="status-filter">Show </label>
        <select id="status-filter" value={filter} onChange={(e) => setFilter(e.currentTarget.value)}>
          <option value="all">all criteria</option>
          {STATUS_ORDER.map((s) => <option key={s} value={s}>{STATUS_LABEL[s].toLowerCase()}</option>)}
        </select>
        <table class="data" data-testid="criteria-table">
          <caption class="sr-only">SOC 2 criteria and the status of their controls</caption>
          <thead><tr><th scope="col">Criterion</th><th scope="col">Title</th><th scope="col">Status</th><th scope="col">Controls</th></tr></thead>
          <tbody>
            {rows.map((c) => (
              <tr key={c.id} data-criterion={c.id}>
                <th scope="row"><a href={`#/compliance/criteria/${c.id}`}>{c.id}</a></th>
                <td>{c.title}</td>
                <td><Badge status={c.status} /></td>
                <td>{c.controls.length ? c.controls.map((id, i) => <>{i ? ', ' : ''}<a href={`#/compliance/controls/${id}`}>{id}</a></>) : <em>none</em>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  )
}

export function CriterionView({ data, id }) {
  const c = data.criteria.find((x) => x.id === id)
  if (!c) return <p role="alert">No criterion {id}.</p>
  return (
    <div>
      <p><a href="#/compliance">← All criteria</a></p>
      <h2 class="sub">{c.id} {c.title} <Badge status={c.status} /></h2>
      <p>{c.group} · {c.category}</p>
      <table class="data" data-testid="controls-table">
        <caption>Controls serving {c.id}</caption>
        <thead><tr><th scope="col">Control</th><th scope="col">Title</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col">Why</th></tr></thead>
        <tbody>
          {c.controls.map((cid) => {
            const ctl = data.controls[cid]
            return (
              <tr key={cid} data-control={cid}>
                <th scope="row"><a href={`#/compliance/controls/${cid}`}>{cid}</a></th>
                <td>{ctl.title}</td><td>{ctl.kind}</td><td><Badge status={ctl.status} /></td><td>{ctl.reason}</td>
              </tr>
            )
          })}
        </tbody>
      </table>
    </div>
  )
}

export function ControlView({ data, id }) {
  const c = data.controls[id]
  if (!c) return <p role="alert">No control {id}.</p>
  return (
    <div>
      <p><a href="#/compliance">← All criteria</a> · criteria {c.criteria.map((k, i) => <>{i ? ', ' : ''}<a href={`#/compliance/criteria/${k}`}>{k}</a></>)}</p>
      <h2 class="sub">{c.id} {c.title} <Badge status={c.status} /></h2>
      <dl class="facts">
        <dt>Why</dt><dd>{c.reason}</dd>
        <dt>Kind</dt><dd>{c.kind}</dd><dt>Frequency</dt><dd>{c.frequency}</dd><dt>Owner</dt><dd>{c.owner}</dd>
        <dt>Evidence as of</dt><dd>{c.as_of ? `${when(c.as_of)} (run #${c.sequence} ${c.run_id})` : '–'}</dd>
        <dt>Items</dt><dd>{c.passed} passed, {c.failed} failed, {c.gaps} gap(s)</dd>
      </dl>
      {c.evidence.length > 0 && (
        <table class="data" data-testid="evidence-table">
          <caption>Evidence per account and region</caption>
          <thead><tr><th scope="col">Account</th><th scope="col">Region</th><th scope="col">Collector</th><th scope="col">Passed</th><th scope="col">Failed</th><th scope="col">Collected</th><th scope="col">Artifact</th></tr></thead>
          <tbody>
            {c.evidence.map((e) => (
              <tr key={e.path} class={e.failed ? 'row-fail' : e.kind === 'gap' ? 'row-gap' : ''}>
                <td>{e.account_name ? `${e.account_name} (${e.account_id})` : e.account_id}</td>
                <td>{e.region}</td><td>{e.collector}{e.kind === 'gap' ? ' (gap)' : ''}</td>
                <td>{e.passed}</td><td>{e.failed}</td><td>{when(e.collected_at)}</td>
                <td><a href={`#/compliance/artifact?path=${encodeURIComponent(e.path)}`} data-artifact={e.path}>open<span class="sr-only"> artifact {e.collector} {e.account_id} {e.region}</span></a></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  )
}

export function ArtifactView({ api, path }) {
  const [state, setState] = useState({ a: null, error: null })
  useEffect(() => { api.artifact(path).then((a) => setState({ a, error: null }), (e) => setState({ a: null, error: e.message })) }, [path])
  const { a, error } = state
  if (error) return <p class="form-error" role="alert">{error}</p>
  if (!a) return <p>Reading the artifact…</p>
  return (
    <div>
      <p><a href="#/compliance">← All criteria</a> · controls {a.controls.map((k, i) => <>{i ? ', ' : ''}<a href={`#/compliance/controls/${k}`}>{k}</a></>)}</p>
      <h2 class="sub">Artifact: {a.collector} · {a.account_name || a.account_id} · {a.region}</h2>
      <dl class="facts" data-testid="artifact-facts">
        <dt>Path</dt><dd class="mono">{a.path}</dd>
        <dt>Integrity</dt><dd>{a.intact ? `intact: SHA-256 matches manifest #${a.sequence}` : `CHANGED since manifest #${a.sequence} sealed it`}</dd>
        <dt>SHA-256</dt><dd class="mono">{a.sha256}</dd>
        <dt>Collected</dt><dd>{when(a.collected_at)} by {a.caller_arn}</dd>
        <dt>Results</dt><dd>{a.counts.pass} pass, {a.counts.fail} fail, {a.counts.not_applicable} not applicable</dd>
        {a.error && [<dt key="et">Gap</dt>, <dd key="ed">{a.error}</dd>]}
      </dl>
      <table class="data" data-testid="population-table">
        <caption>Population ({a.items_total} items{a.items_total > a.items.length ? `, first ${a.items.length} shown` : ''}), failures first</caption>
        <thead><tr><th scope="col">Result</th><th scope="col">Control</th><th scope="col">Item</th><th scope="col">Reason</th></tr></thead>
        <tbody>
          {a.items.map((p, i) => (
            <tr key={i} class={p.result === 'fail' ? 'row-fail' : ''}>
              <td><span class={`badge res-${p.result}`}>{p.result}</span></td><td>{p.control}</td><td class="mono">{p.id}</td><td data-reason>{p.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <details><summary>{a.calls.length} AWS call(s) made</summary>
        <ul>{a.calls.map((c, i) => <li key={i} class="mono">{c.service}.{c.operation} {c.region} · {c.pages} page(s){c.drained ? '' : ' · NOT drained'}</li>)}</ul>
      </details>
    </div>
  )
}

export function Campaigns({ data }) {
  if (!data.campaigns.length) return <p>No access-review campaign in this store yet (<code>charter access-review start</code>).</p>
  return (
    <div>
      {data.campaigns.map((c) => (
        <section key={c.quarter} aria-labelledby={`q-${c.quarter}`} class="campaign">
          <h2 id={`q-${c.quarter}`}>{c.quarter} <span class={`badge camp-${c.status}`}>{c.status}</span></h2>
          <p>Started {when(c.started_at)}{c.closed_at ? `, closed ${when(c.closed_at)}` : ''} · {c.revocations} revocation(s), {c.verified} verified · campaign <code>{c.id}</code></p>
          <table class="data" data-testid={`reviewers-${c.quarter}`}>
            <caption>Reviewers of {c.quarter}</caption>
            <thead><tr><th scope="col">Reviewer</th><th scope="col">Accesses</th><th scope="col">Workbook</th><th scope="col">Revocations verified</th></tr></thead>
            <tbody>
              {c.reviewers.map((r) => (
                <tr key={r.reviewer}>
                  <th scope="row">{r.reviewer}</th><td>{r.rows}</td>
                  <td>{r.returned ? `returned ${when(r.recorded_at)}` : 'awaiting'}</td>
                  <td>{r.verified} of {r.revocations}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {c.exceptions.length > 0 && <ul>{c.exceptions.map((x, i) => <li key={i}>{x}</li>)}</ul>}
        </section>
      ))}
    </div>
  )
}
