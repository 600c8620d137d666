import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import GithubSlugger from 'github-slugger';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/** README.md, every guide under docs/ and the examples' READMEs: the pages a reader follows links between. */
function markdownFiles(): string[] {
  const files = ['README.md', 'demo/README.md'];
  const walk = (dir: string): void => {
    for (const name of readdirSync(path.join(root, dir))) {
      const relative = path.join(dir, name);
      if (statSync(path.join(root, relative)).isDirectory()) walk(relative);
      else if (name.endsWith('.md')) files.push(relative);
    }
  };
  walk('docs');
  walk('examples');
  return files.filter((file) => !file.includes('node_modules'));
}

/** The anchors GitHub gives a page's headings (the same slugs, duplicates numbered), outside code blocks. */
function anchorsOf(file: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(path.join(root, file), 'utf8').split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (heading) anchors.add(slugger.slug(heading[1]!.replaceAll('`', '').trim()));
  }
  return anchors;
}

/** Every `[text](target)` link outside code blocks and inline code, with its line. */
function linksOf(file: string): Array<{ target: string; line: number }> {
  const links: Array<{ target: string; line: number }> = [];
  let fenced = false;
  readFileSync(path.join(root, file), 'utf8')
    .split('\n')
    .forEach((text, index) => {
      if (text.startsWith('```')) fenced = !fenced;
      if (fenced) return;
      const prose = text.replaceAll(/`[^`]*`/g, '');
      for (const match of prose.matchAll(/\]\(([^)\s]+)\)/g)) links.push({ target: match[1]!, line: index + 1 });
    });
  return links;
}

describe('documentation links', () => {
  const files = markdownFiles();

  it('finds the README and the guides', () => {
    expect(files).toContain('README.md');
    expect(files.filter((file) => file.startsWith('docs/')).length).toBeGreaterThan(10);
  });

  it.each(files)('every relative link and anchor in %s resolves', (file) => {
    const broken: string[] = [];
    for (const { target, line } of linksOf(file)) {
      if (/^[a-z][a-z+.-]*:/i.test(target)) continue; // https:, mailto: — outside this repository
      const [pathPart = '', anchor] = target.split('#');
      const resolved = pathPart === '' ? file : path.join(path.dirname(file), decodeURIComponent(pathPart));
      if (!existsSync(path.join(root, resolved))) {
        broken.push(`${file}:${line} → ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor)) {
        broken.push(`${file}:${line} → ${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});
