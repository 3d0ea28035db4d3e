import type { IssueList } from "../shared/config/issues.ts";
import { isRecord } from "../shared/config/reader.ts";

/**
 * The element tree of a Kaazing configuration, built from the object fast-xml-parser returns
 * when every element is parsed as an array (so a repeated element is seen, not overwritten),
 * attributes are kept under `@_` and values stay strings. Pure: the parse itself is in
 * kaazing/xml.ts, which sets exactly those options (`KAAZING_PARSER_OPTIONS`).
 */

export interface XmlElement {
  readonly name: string;
  /** Trimmed text content; "" for an element holding only children, or empty. */
  readonly text: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
}

export const ATTRIBUTE_PREFIX = "@_";
export const TEXT_KEY = "#text";

/** The options kaazing/xml.ts gives fast-xml-parser, kept beside the reader of their output. */
export const KAAZING_PARSER_OPTIONS = Object.freeze({
  ignoreAttributes: false,
  attributeNamePrefix: ATTRIBUTE_PREFIX,
  textNodeName: TEXT_KEY,
  // "1" stays "1" and "0443" stays "0443": the mapping validates each value itself.
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  isArray: (_name: string, _jpath: unknown, _leaf: boolean, isAttribute: boolean): boolean => !isAttribute,
});

function fromNode(name: string, value: unknown): XmlElement {
  if (!isRecord(value))
    return { name, text: value === undefined || value === null ? "" : String(value).trim(), attributes: {}, children: [] };
  const attributes: Record<string, string> = {};
  const children: XmlElement[] = [];
  let text = "";
  for (const [key, v] of Object.entries(value)) {
    if (key.startsWith(ATTRIBUTE_PREFIX)) attributes[key.slice(ATTRIBUTE_PREFIX.length)] = String(v);
    else if (key === TEXT_KEY) text = String(v).trim();
    else for (const item of Array.isArray(v) ? v : [v]) children.push(fromNode(key, item));
  }
  return { name, text, attributes, children };
}

/** The document's top-level elements (a well-formed configuration has exactly one). */
export function topLevelElements(doc: unknown): readonly XmlElement[] {
  return isRecord(doc) ? fromNode("(document)", doc).children : [];
}

/** Children grouped by element name, in document order of first appearance. */
export function byName(el: XmlElement): Map<string, XmlElement[]> {
  const groups = new Map<string, XmlElement[]>();
  for (const child of el.children) {
    const list = groups.get(child.name);
    if (list) list.push(child);
    else groups.set(child.name, [child]);
  }
  return groups;
}

/** Reports attributes other than `allowed` (namespace declarations are always allowed). */
export function checkAttributes(el: XmlElement, path: string, issues: IssueList, allowed: readonly string[] = []): void {
  for (const attr of Object.keys(el.attributes)) {
    if (attr === "xmlns" || attr.startsWith("xmlns:") || allowed.includes(attr)) continue;
    issues.add(`${path}@${attr}`, "is an attribute Sallyport does not know; Kaazing service settings are elements");
  }
}

/**
 * The text of a leaf element: no attributes, no children. Kaazing expands `${property}`
 * references from <properties>; Sallyport does not, so they are reported rather than copied.
 */
export function leafText(el: XmlElement, path: string, issues: IssueList): string | undefined {
  checkAttributes(el, path, issues);
  if (el.children.length > 0) {
    issues.add(path, `must hold a value, not elements (found <${el.children[0]!.name}>)`);
    return undefined;
  }
  if (/\$\{[^}]*\}/.test(el.text)) {
    issues.add(
      path,
      `uses a gateway property reference (${/\$\{[^}]*\}/.exec(el.text)![0]}), which Sallyport does not expand; write the value in place`,
    );
    return undefined;
  }
  return el.text;
}

/** An element's single-valued children read flat, with the path that names each. */
export interface Section {
  readonly path: string;
  readonly values: Readonly<Record<string, string>>;
  /** Children present but unreadable, already reported: not to be reported again as missing. */
  readonly broken: ReadonlySet<string>;
  /** Children listed in `nested`, kept as elements for the caller to read. */
  readonly nested: ReadonlyMap<string, XmlElement>;
}

/**
 * Reads `el`'s children as leaves (or, for names in `nested`, as elements), each at most once:
 * Kaazing options are single-valued, and a repeated one is a mistake either way round.
 */
export function readSection(
  el: XmlElement | undefined,
  path: string,
  issues: IssueList,
  nested: readonly string[] = [],
  whyOnce: Readonly<Record<string, string>> = {},
): Section {
  const values: Record<string, string> = {};
  const broken = new Set<string>();
  const inner = new Map<string, XmlElement>();
  if (el) {
    checkAttributes(el, path, issues);
    if (el.text) issues.add(path, `must hold elements, not text ("${el.text.slice(0, 40)}")`);
    for (const [name, list] of byName(el)) {
      const at = `${path}.${name}`;
      if (list.length > 1) {
        issues.add(at, `appears ${list.length} times; ${whyOnce[name] ?? "give it once"}`);
        broken.add(name);
      } else if (nested.includes(name)) {
        inner.set(name, list[0]!);
      } else {
        const text = leafText(list[0]!, at, issues);
        if (text === undefined) broken.add(name);
        else values[name] = text;
      }
    }
  }
  return { path, values, broken, nested: inner };
}

/** Whether the section names `key` at all, readable or not. */
export function mentions(section: Section | undefined, key: string): boolean {
  return section !== undefined && (Object.hasOwn(section.values, key) || section.broken.has(key));
}
