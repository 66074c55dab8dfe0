"""Drives `schemashift serve` with the official Python MCP SDK, as any editor would.

Usage: python mcp_client.py /path/to/schemashift
Prints one line per check and exits non-zero on the first failure.
"""
import asyncio
import sys

from mcp import ClientSession, StdioServerParameters, stdio_client


async def main(exe: str) -> None:
    params = StdioServerParameters(command=exe, args=["serve"])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = {t.name for t in (await session.list_tools()).tools}
            assert {"classify_change", "build_plan"} <= tools, tools
            print("tools:", sorted(tools))

            res = await session.call_tool("classify_change", {"request": "rename users.username to handle"})
            assert not res.is_error, res
            assert res.structured_content["change_type"] == "rename_column", res.structured_content
            print("classify_change: rename_column")

            res = await session.call_tool("build_plan", {"request": "make users.email required"})
            assert not res.is_error, res
            kinds = [p["kind"] for p in res.structured_content["phases"]]
            assert kinds == ["deploy", "validate"], kinds
            print("build_plan:", kinds)

            resources = (await session.list_resources()).resources
            assert len(resources) >= 4, resources
            for r in resources:
                doc = await session.read_resource(r.uri)
                # The reference documents are long; the output templates are listed too.
                if str(r.uri).startswith("schemashift://references/"):
                    assert len(doc.contents[0].text) > 1000, r.uri
                else:
                    assert str(r.uri).startswith("schemashift://templates/"), r.uri
                    assert doc.contents[0].text, r.uri
                print("read", r.uri)

            res = await session.call_tool("classify_change", {"request": "please make it faster"})
            assert res.is_error, res
            print("bad request: is_error")


asyncio.run(main(sys.argv[1]))
