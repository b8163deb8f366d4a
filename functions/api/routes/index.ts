/**
 * The route table. Each area of the API is one module exporting its routes; adding an area is one
 * line here. Order matters only where patterns overlap (the first match wins).
 */
import type { Route } from '../http.js';
import { deadLetterRoutes } from './dead-letters.js';
import { apiKeyRoutes } from './api-keys.js';
import { auditRoutes } from './audit.js';
import { documentRoutes } from './documents.js';
import { jobControlRoutes } from './job-control.js';
import { agentRoutes } from './agents.js';
import { documentAdminRoutes } from './documents-admin.js';
import { projectRoutes } from './projects.js';
import { jobRoutes } from './jobs.js';
import { reembedRoutes } from './reembed.js';
import { searchRoutes } from './search.js';
import { settingsRoutes } from './settings.js';
import { speechRoutes } from './speech.js';
import { translationRoutes } from './translation.js';
import { uploadRoutes } from './uploads.js';
import { usageRoutes } from './usage.js';
import { userRoutes } from './users.js';

export const ROUTES: readonly Route[] = [
  ...uploadRoutes,
  ...searchRoutes,
  ...reembedRoutes,
  ...speechRoutes,
  ...jobRoutes,
  ...jobControlRoutes,
  ...deadLetterRoutes,
  ...documentRoutes,
  ...usageRoutes,
  ...userRoutes,
  ...apiKeyRoutes,
  ...auditRoutes,
  ...documentAdminRoutes,
  ...projectRoutes,
  ...settingsRoutes,
  ...agentRoutes,
  ...translationRoutes,
];
