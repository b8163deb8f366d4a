/** `POST /v1/search`: hybrid search over a project's current document versions. */
import type { Firestore } from '@google-cloud/firestore';
import { API_ROUTES, SearchResponseSchema, SearchRequestSchema, type SearchResponse } from '../../../shared/api/contracts.js';
import type { Caller } from '../../../shared/auth/index.js';
import type { SearchDeps } from '../../../shared/search/search.js';
import { invalid, json, requireRole, type ApiDeps, type ApiRequest, type ApiResponse, type Route } from '../http.js';

/** Default search deps per Firestore client, built on the first search (the module loads then). */
const defaultSearch = new WeakMap<Firestore, Promise<SearchDeps>>();

function searchDeps(deps: ApiDeps): Promise<SearchDeps> {
  if (deps.search) return Promise.resolve(deps.search);
  let built = defaultSearch.get(deps.db);
  if (!built) {
    built = import('../../../shared/search/index.js').then((m) => ({
      ...m.createSearchDeps(deps.db),
      onError: (side: string, err: unknown) => deps.log.error('search side failed; answering without it', { side, err }),
    }));
    defaultSearch.set(deps.db, built);
  }
  return built;
}

async function searchRoute(req: ApiRequest, caller: Caller, deps: ApiDeps): Promise<ApiResponse> {
  const parsed = SearchRequestSchema.safeParse(await req.readBody());
  if (!parsed.success) throw invalid('search request', parsed.error);
  const body = parsed.data;
  await requireRole(deps, caller, body.projectId);
  const started = performance.now();
  const [{ search }, sdeps] = await Promise.all([import('../../../shared/search/search.js'), searchDeps(deps)]);
  const outcome = await search(
    {
      projectId: body.projectId,
      query: body.query,
      ...(body.limit === undefined ? {} : { limit: body.limit }),
      ...(body.documentId === undefined ? {} : { documentId: body.documentId }),
      ...(body.contentType === undefined ? {} : { contentType: body.contentType }),
    },
    sdeps,
  );
  const took = Math.round(performance.now() - started);
  deps.log.info('search', { projectId: body.projectId, uid: caller.uid, results: outcome.results.length, ms: took, modes: outcome.modes, terms: outcome.terms.length });
  const response: SearchResponse = { results: outcome.results, took: { ms: took }, modes: outcome.modes };
  return json(200, response);
}

export const searchRoutes: readonly Route[] = [
  {
    pattern: new RegExp(`^${API_ROUTES.search}$`),
    path: API_ROUTES.search,
    docs: { POST: { tag: 'search', summary: "Hybrid (keyword + vector) search over the current versions of a project's documents", body: SearchRequestSchema, response: SearchResponseSchema, status: 200, example: { projectId: 'demo', query: 'inheritance law', limit: 10 } } },
    methods: { POST: ({ req, caller, deps }) => searchRoute(req, caller, deps) },
    access: { POST: 'read' },
  },
];
