/**
 * Audio and video helpers for the speech pipeline: identify and probe (ffprobe), normalize to
 * 16 kHz mono WAV (ffmpeg), split on silence, and write transcripts as text, JSON, SRT and WebVTT.
 * Needs ffmpeg (Debian package `ffmpeg`, which also brings ffprobe).
 */
export * from './types.js';
export { DEMUXER, checkRawFormat, identifyMedia, probeMedia, sniffAudioContainer } from './probe.js';
export type { AudioStreamInfo, MediaInfo, ProbeOptions } from './probe.js';
export { formatDuration, normalizeAudio } from './normalize.js';
export type { NormalizeOptions, NormalizedAudio } from './normalize.js';
export { DEFAULT_MAX_SEGMENT_SECONDS, detectSilences, normalizeSilences, parseSilenceDetect, planSegments, splitAudio } from './segments.js';
export type { AudioSegment, LoudnessFrames, PlannedSegment, SegmentCut, SegmentPlanOptions, Silence, SilenceOptions, SplitOptions, SplitResult } from './segments.js';
export { isNormalizedWav, loudnessProfile, parseWavHeader, readNormalizedWav, readWavInfo, sampleRange, wavHeader, writeWavSlice } from './wav.js';
export type { WavInfo } from './wav.js';
export * from './transcript.js';
