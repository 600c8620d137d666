import { describe, expect, it } from 'vitest';
import { isSessionError } from '../../src/core/errors.js';
import { compileMatch } from '../../src/http/url-match.js';

const page = 'https://app.example.com/map/index.html';
const matches = (match: Parameters<typeof compileMatch>[0], url: string): boolean => compileMatch(match, page)(new URL(url));

describe('compileMatch', () => {
  it('a relative prefix matches its path on the current origin only', () => {
    expect(matches('/api/', 'https://app.example.com/api/v1/x')).toBe(true);
    expect(matches('/api/', 'https://app.example.com/apis')).toBe(false);
    expect(matches('/api/', 'https://other.example.com/api/v1/x')).toBe(false);
    expect(matches('/api/', 'http://app.example.com/api/v1/x')).toBe(false); // another scheme is another origin
  });

  it('an absolute prefix never matches a host that merely starts with it', () => {
    expect(matches('https://api.example.com', 'https://api.example.com/anything')).toBe(true);
    expect(matches('https://api.example.com', 'https://api.example.com.evil.test/anything')).toBe(false);
    expect(matches('https://api.example.com', 'https://api.example.com:8443/anything')).toBe(false);
    expect(matches('https://api.example.com/tiles/', 'https://api.example.com/tiles/1/2/3.png?x=1')).toBe(true);
    expect(matches('https://api.example.com/tiles/', 'https://api.example.com/other')).toBe(false);
  });

  it('a RegExp is tested against the full URL; global and sticky flags do not make it alternate', () => {
    const pattern = /^https:\/\/tiles\.example\.com\//g;
    const match = compileMatch(pattern, page);
    const url = new URL('https://tiles.example.com/1/2/3.png');
    expect([match(url), match(url), match(url)]).toEqual([true, true, true]);
    expect(match(new URL('https://evil.test/?https://tiles.example.com/'))).toBe(false);
  });

  it('functions and arrays', () => {
    expect(matches((url) => url.hostname.endsWith('.example.com'), 'https://a.example.com/')).toBe(true);
    expect(matches(['/api/', 'https://b.example.com/x/'], 'https://b.example.com/x/1')).toBe(true);
    expect(matches(['/api/', 'https://b.example.com/x/'], 'https://b.example.com/y/1')).toBe(false);
  });

  it('never matches URLs that are not http(s), whatever the match says', () => {
    expect(matches(() => true, 'data:image/png;base64,AAAA')).toBe(false);
    expect(matches(/.*/, 'blob:https://app.example.com/1234')).toBe(false);
  });

  it('a bad match is an invalid_options SessionError', () => {
    expect(() => compileMatch(42 as unknown as string, page)).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    let error: unknown;
    try {
      compileMatch('/api/', undefined); // relative, with no location to resolve against (Node)
    } catch (caught) {
      error = caught;
    }
    expect(isSessionError(error, 'invalid_options')).toBe(true);
  });
});
