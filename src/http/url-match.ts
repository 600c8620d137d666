import { SessionError } from '../core/errors.js';

/**
 * Which URLs get the session's token:
 * - a string: a URL prefix, absolute (`'https://services.sentinel-hub.com/api/'`) or relative to the current origin
 *   (`'/api/'`); it matches only URLs of that same origin, so `'https://api.example.com'` never matches
 *   `https://api.example.com.evil.test/`;
 * - a RegExp: tested against the full URL (`href`); anchor it (`/^https:\/\/tiles\.example\.com\//`);
 * - a function of the parsed URL;
 * - an array of these: any of them.
 *
 * Only `http:` and `https:` URLs are ever matched. A token goes to another origin only when the match names it.
 */
export type UrlMatch = string | RegExp | ((url: URL) => boolean) | readonly UrlMatch[];

/** A compiled `UrlMatch`. */
export type UrlMatcher = (url: URL) => boolean;

/**
 * Compiles `match` once. Relative prefixes resolve against `base` (default: the current `location`, i.e. the page's
 * or the worker's own origin).
 */
export function compileMatch(match: UrlMatch, base: string | undefined = globalThis.location?.href): UrlMatcher {
  if (Array.isArray(match)) {
    const matchers = (match as readonly UrlMatch[]).map((each) => compileMatch(each, base));
    return (url) => matchers.some((matches) => matches(url));
  }
  if (typeof match === 'function') return (url) => isHttp(url) && match(url);
  if (match instanceof RegExp) {
    // A global or sticky RegExp keeps `lastIndex` between calls and would match every other URL only.
    const pattern = new RegExp(match.source, match.flags.replace(/[gy]/g, ''));
    return (url) => isHttp(url) && pattern.test(url.href);
  }
  if (typeof match === 'string') {
    const prefix = parseUrl(match, base);
    const path = prefix.href.slice(prefix.origin.length);
    return (url) => isHttp(url) && url.origin === prefix.origin && url.href.slice(url.origin.length).startsWith(path);
  }
  throw new SessionError('invalid_options', 'match must be a URL prefix, a RegExp or a function of the URL');
}

function parseUrl(value: string, base: string | undefined): URL {
  try {
    return new URL(value, base);
  } catch (error) {
    throw new SessionError('invalid_options', 'match is not a valid URL prefix (a relative one needs a location)', {
      cause: error,
    });
  }
}

function isHttp(url: URL): boolean {
  return url.protocol === 'https:' || url.protocol === 'http:';
}
