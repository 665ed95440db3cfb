// The optimizer API and the compliance API, as the OpenAPI document describes them.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `request failed (${status})`)
    this.status = status
    this.body = body || {}
    this.fields = body?.fields || []
  }
}

export function createApi(config, auth) {
  const base = config.api.base || ''

  async function call(method, path, body) {
    const headers = { Accept: 'application/json', ...(await auth.headers()) }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    const resp = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    let data = null
    try { data = await resp.json() } catch { data = null }
    if (!resp.ok) throw new ApiError(resp.status, data)
    return data
  }

  return {
    schema: async () => {
      const resp = await fetch(`${base}/openapi.json`, { headers: { Accept: 'application/json' } })
      if (!resp.ok) throw new ApiError(resp.status, { message: 'cannot read the API description (openapi.json)' })
      return resp.json()
    },
    submit: (body) => call('POST', '/optimize', body),
    status: (id) => call('GET', `/jobs/${encodeURIComponent(id)}`),
    results: (id, page = 0) => call('GET', `/jobs/${encodeURIComponent(id)}/results?page=${page}`),
    jobs: (limit, cursor) => call('GET', `/jobs?${new URLSearchParams({ limit: String(limit), ...(cursor ? { cursor } : {}) })}`),
    compliance: () => call('GET', '/compliance/summary'),
    artifact: (path) => call('GET', `/compliance/artifact?${new URLSearchParams({ path })}`),
    async page(url) {
      const resp = await fetch(url)
      if (!resp.ok) throw new ApiError(resp.status, { message: 'a results page could not be downloaded' })
      return resp.json()
    },
  }
}
