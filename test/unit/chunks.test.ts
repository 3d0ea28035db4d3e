import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { leadingBytes, takeBytes, takeParts } from "../../shared/chunks.ts";

const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

describe("chunks: reading a FIFO of byte chunks off the front", () => {
  it("counts only the leading run of bytes, up to the limit", () => {
    expect(leadingBytes([bytes(1, 2), bytes(3), "text", bytes(4)], 100)).toBe(3);
    expect(leadingBytes([bytes(1, 2), bytes(3)], 2)).toBe(2);
    expect(leadingBytes(["text", bytes(1)], 100)).toBe(0);
    expect(leadingBytes([], 100)).toBe(0);
  });

  it("returns a view, not a copy, when the first chunk holds all", () => {
    const head = bytes(1, 2, 3, 4);
    const q: unknown[] = [head, bytes(5)];
    const out = takeBytes(q, 2);
    expect([...out]).toEqual([1, 2]);
    expect(out.buffer).toBe(head.buffer);
    expect(q.map((c) => [...(c as Uint8Array)])).toEqual([[3, 4], [5]]);
  });

  it("joins chunks when the bytes span them, and leaves what follows", () => {
    const q: unknown[] = [bytes(1), bytes(2, 3), bytes(4, 5, 6), "end"];
    expect([...takeBytes(q, 4)]).toEqual([1, 2, 3, 4]);
    expect(q).toEqual([bytes(5, 6), "end"]);
    expect([...takeBytes(q, 2)]).toEqual([5, 6]);
    expect(q).toEqual(["end"]);
  });

  it("refuses to cross something that is not bytes", () => {
    expect(() => takeBytes(["end"], 1)).toThrow(RangeError);
    expect(() => takeBytes([bytes(1), "end"], 2)).toThrow(RangeError);
  });

  it("takeParts: hands the chunks themselves back, and a view of the one it ends inside", () => {
    const [a, b, c] = [bytes(1), bytes(2, 3), bytes(4, 5, 6)];
    const q: unknown[] = [a, b, c, "end"];
    const parts = takeParts(q, 4);
    expect(parts[0]).toBe(a);
    expect(parts[1]).toBe(b);
    expect([...parts[2]!]).toEqual([4]);
    expect(parts[2]!.buffer).toBe(c.buffer);
    expect(q).toEqual([bytes(5, 6), "end"]);
    expect(takeParts(q, 2).map((p) => [...p])).toEqual([[5, 6]]);
    expect(q).toEqual(["end"]);
    expect(() => takeParts(q, 1)).toThrow(RangeError);
  });

  it("any sequence of takes, joined or as parts, gives back the bytes in order, none lost or repeated", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 40 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 70 }), { maxLength: 40 }),
        (chunks, takes) => {
          const all = chunks.flatMap((c) => [...c]);
          const q: unknown[] = [...chunks];
          const got: number[] = [];
          for (const t of takes) {
            const n = leadingBytes(q, t);
            if (n === 0) break;
            if (n % 2) got.push(...takeBytes(q, n));
            else for (const part of takeParts(q, n)) got.push(...part);
          }
          const rest = q.flatMap((c) => [...(c as Uint8Array)]);
          expect([...got, ...rest]).toEqual(all);
        },
      ),
    );
  });
});
