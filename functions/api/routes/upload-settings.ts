/** The project-settings side of `POST /v1/uploads`: allowed content types and the project's size limit. */
import { contentTypeAllowed, type ProjectSettings } from '../../../shared/api/settings.js';
import { HttpError } from '../../../shared/errors/index.js';

/** Refuses an upload the project's settings do not allow (415 for the type, 413 for the size). */
export function checkProjectUploadSettings(settings: ProjectSettings, projectId: string, contentType: string, size: number): void {
  if (!contentTypeAllowed(settings.allowedContentTypes, contentType)) {
    throw new HttpError(415, 'CONTENT_TYPE_NOT_ALLOWED', `project ${projectId} does not accept ${contentType} uploads`, { allowed: settings.allowedContentTypes });
  }
  if (settings.maxUploadBytes !== null && size > settings.maxUploadBytes) {
    throw new HttpError(413, 'UPLOAD_TOO_LARGE', `declared size ${size} bytes exceeds project ${projectId}'s limit of ${settings.maxUploadBytes} bytes`, { limit: settings.maxUploadBytes });
  }
}
