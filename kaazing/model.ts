import type { IssueList } from "../shared/config/issues.ts";
import type { AcceptUri } from "../shared/config/service.ts";
import type { Section } from "./tree.ts";

/**
 * The shapes a Kaazing import works with: what the reader (import.ts) hands the role mappers
 * (roles.ts) and what the import returns. Apart so that neither of the two imports the other.
 */

export const SECTIONS = ["properties", "accept-options", "connect-options"] as const;
export type SectionName = (typeof SECTIONS)[number];

export type Role = "internal" | "dmz";

/** One line of the mapping, attached to the element it explains. */
export interface ImportNote {
  readonly path: string;
  readonly text: string;
}

/** A service as the connector's JSON file holds it. */
export type RawConnectorService = Record<string, string | number>;
/** A service as wrangler.toml [vars.SALLYPORT_SERVICES.<name>] holds it. */
export type RawEdgeService = Record<string, string>;

export interface KaazingImport {
  /** The connector's JSON configuration, when any <service> is an internal gateway. */
  readonly connector: { services: RawConnectorService[] } | undefined;
  /** The edge's SALLYPORT_SERVICES, when any <service> is a DMZ gateway. */
  readonly edge: { SALLYPORT_SERVICES: Record<string, RawEdgeService> } | undefined;
  readonly services: ReadonlyArray<{ readonly path: string; readonly role: Role; readonly name: string }>;
  readonly notes: readonly ImportNote[];
}

/** A <service> read into its parts, for the role mappers. */
export interface ServiceParts {
  readonly path: string;
  readonly leaves: Section;
  readonly sections: Partial<Record<SectionName, Section>>;
  /** Undefined when unusable (already reported): the mappers still check the rest. */
  readonly accept: AcceptUri | undefined;
  readonly name: string | undefined;
}

/** Shared by the service mappers: issues, notes and the outputs being built. */
export interface ImportContext {
  readonly issues: IssueList;
  note(path: string, text: string): void;
  readonly connector: Array<RawConnectorService & { name: string }>;
  readonly edge: Record<string, RawEdgeService>;
}
