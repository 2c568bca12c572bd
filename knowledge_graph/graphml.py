"""A streaming GraphML writer for the entity graph.

networkx builds the whole XML tree in memory, which takes minutes for a million edges;
this writes the same format line by line (``networkx.read_graphml`` reads it back, which
the tests check). Edge provenance beyond the counts lives in the Parquet/JSONL files.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from knowledge_graph.graph import Edge, Node

NODE_KEYS = (("n_items", "int"), ("methods", "string"))
EDGE_KEYS = (("relation", "string"), ("weight", "double"), ("confidence", "double"),
             ("n_item_pairs", "int"), ("n_entity_labels", "int"), ("verified", "boolean"))

HEADER = (
    "<?xml version='1.0' encoding='utf-8'?>\n"
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
    'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">\n'
)


def write_graphml(path: Path, nodes: list[Node], edges: list[Edge]) -> None:
    with path.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write(HEADER)
        for name, kind in NODE_KEYS:
            out.write(f'  <key id="{name}" for="node" attr.name="{name}" attr.type="{kind}" />\n')
        for name, kind in EDGE_KEYS:
            out.write(f'  <key id="{name}" for="edge" attr.name="{name}" attr.type="{kind}" />\n')
        out.write('  <graph edgedefault="undirected">\n')
        out.writelines(
            f"    <node id={quoteattr(n.entity)}><data key=\"n_items\">{n.n_items}</data>"
            f"<data key=\"methods\">{escape(','.join(n.methods))}</data></node>\n"
            for n in nodes
        )
        out.writelines(
            f"    <edge id=\"e{i}\" source={quoteattr(e.a)} target={quoteattr(e.b)}>"
            f"<data key=\"relation\">{e.relation}</data><data key=\"weight\">{e.weight!r}</data>"
            f"<data key=\"confidence\">{e.confidence!r}</data>"
            f"<data key=\"n_item_pairs\">{e.n_item_pairs}</data>"
            f"<data key=\"n_entity_labels\">{e.n_entity_labels}</data>"
            f"<data key=\"verified\">{'true' if e.verified else 'false'}</data></edge>\n"
            for i, e in enumerate(edges)
        )
        out.write("  </graph>\n</graphml>\n")
