/**
 * The route table. Each area of the API is one module exporting its routes; adding an area is one
 * line here. Order matters only where patterns overlap (the first match wins).
 */
import type { Route } from '../http.js';
import { documentRoutes } from './documents.js';
import { jobRoutes } from './jobs.js';
import { reembedRoutes } from './reembed.js';
import { searchRoutes } from './search.js';
import { translationRoutes } from './translation.js';
import { uploadRoutes } from './uploads.js';

export const ROUTES: readonly Route[] = [
  ...uploadRoutes,
  ...searchRoutes,
  ...reembedRoutes,
  ...jobRoutes,
  ...documentRoutes,
  ...translationRoutes,
];
