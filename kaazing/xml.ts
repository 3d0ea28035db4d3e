import { XMLParser, XMLValidator } from "fast-xml-parser";
import { importKaazing } from "./import.ts";
import type { KaazingImport } from "./model.ts";
import type { ConfigIssue } from "../shared/config/issues.ts";
import { KAAZING_PARSER_OPTIONS } from "./tree.ts";
import { err, type Result } from "../shared/result.ts";

/**
 * The XML half of the Kaazing import: text → fast-xml-parser's object → the pure mapping in
 * kaazing/import.ts. No I/O; the callers read the file.
 */

/** Kaazing configuration files are XML; JSON starts with "{". */
export function looksLikeXml(fileName: string, text: string): boolean {
  return /\.xml$/i.test(fileName) || text.trimStart().startsWith("<");
}

export function parseKaazingXml(text: string): Result<unknown, readonly ConfigIssue[]> {
  // Kaazing configurations have no DTD, and an internal subset's entities would be expanded
  // (the "billion laughs" shape): refuse rather than trust the parser's limits.
  if (/<!DOCTYPE/i.test(text))
    return err([{ path: "(document)", message: "has a <!DOCTYPE>; Kaazing configurations have none and Sallyport does not read one" }]);
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    return err([{ path: "(document)", message: `is not well-formed XML: ${msg} (line ${line}${col ? `, column ${col}` : ""})` }]);
  }
  return { ok: true, value: new XMLParser({ ...KAAZING_PARSER_OPTIONS }).parse(text) };
}

export function importKaazingXml(text: string): Result<KaazingImport, readonly ConfigIssue[]> {
  const doc = parseKaazingXml(text);
  return doc.ok ? importKaazing(doc.value) : doc;
}
