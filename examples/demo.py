"""`make demo`: a data analysis in a fresh isolated sandbox, with or without a model.

* With OPENAI_API_KEY or OPENAI_BASE_URL set, the reference agent answers QUESTION
  about examples/data/sales.csv, and every step it takes is shown live.
* Without either, the same analysis runs through the same tools in a local sandbox
  (the code a model would write, step by step), and the demo says how to turn the
  model on.

Either way the charts are written under --charts-dir (default demo-output/).

    python examples/demo.py [--charts-dir DIR] [--question "..."]
"""

from __future__ import annotations

import argparse
import os
import sys

from langchain_core.messages import HumanMessage, ToolCall, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from openai import OpenAIError
from rich.console import Console

from langchain_daytona_exec import DaytonaToolkit, LocalBackend, SandboxPool
from langchain_daytona_exec.agent import create_code_interpreter_agent, save_charts
from langchain_daytona_exec.agent.console import (
    ModelNotConfiguredError,
    StepPrinter,
    describe_files,
    model_from_env,
    run_turn,
)

HERE = os.path.dirname(os.path.abspath(__file__))
DATASET = os.path.join(HERE, "data", "sales.csv")
QUESTION = (
    "Which region brings in the most revenue (units x unit_price)? Plot the monthly "
    "revenue of each region in one chart, and tell me how you computed it."
)
THREAD = "demo"

with open(os.path.join(HERE, "analysis.py"), encoding="utf-8") as _f:
    ANALYSIS = "".join(line for line in _f if not line.startswith("#")).lstrip()

# What a careful model does for QUESTION: look at the data, then analyse and plot.
OFFLINE_STEPS: list[tuple[str, dict[str, str]]] = [
    ("list_files", {"path": "."}),
    (
        "python",
        {
            "code": (
                "import pandas as pd\n"
                'df = pd.read_csv("sales.csv")\n'
                "print(df.shape)\n"
                "print(df.dtypes.to_string())\n"
                "df.head()"
            )
        },
    ),
    ("python", {"code": ANALYSIS}),
]


def run_with_model(console: Console, charts_dir: str, question: str) -> int:
    """The reference agent answers the question; each step is printed live."""
    model = model_from_env()
    with SandboxPool(LocalBackend()) as pool:
        with pool.session(THREAD) as sb, open(DATASET, "rb") as f:
            sb.write_file("sales.csv", f.read())
        agent = create_code_interpreter_agent(
            model,
            toolkit=DaytonaToolkit(pool=pool),
            checkpointer=InMemorySaver(),
            charts_dir=charts_dir,
        )
        message = HumanMessage(f"{question}\n\n{describe_files([DATASET])}")
        config: RunnableConfig = {"configurable": {"thread_id": THREAD}}
        stats = run_turn(agent, [message], config, StepPrinter(console))
    console.print(f"[dim]{stats.summary()}[/]")
    where = os.path.join(charts_dir, THREAD)
    written = [c for c in stats.charts if c.get("kind", "chart") == "chart"]
    console.print(f"charts: {len(written)} written to {where}/", soft_wrap=True)
    return 0


def run_without_model(console: Console, charts_dir: str, why: str) -> int:
    """The same analysis, run through the agent's tools in a local sandbox."""
    printer = StepPrinter(console)
    console.print(
        "[bold]No model is configured:[/] running the analysis a model would write, "
        "step by step, through the same tools in a fresh local sandbox.\n"
    )
    config: RunnableConfig = {"configurable": {"thread_id": THREAD}}
    with SandboxPool(LocalBackend()) as pool:
        tools = {t.name: t for t in DaytonaToolkit(pool=pool).get_tools()}
        with pool.session(THREAD) as sb, open(DATASET, "rb") as f:
            sb.write_file("sales.csv", f.read())
        console.print("[dim]uploaded examples/data/sales.csv -> sales.csv[/]")
        results: list[ToolMessage] = []
        for n, (name, args) in enumerate(OFFLINE_STEPS, 1):
            call = ToolCall(name=name, args=args, id=f"demo-{n}", type="tool_call")
            printer.tool_call(call)
            result = tools[name].invoke(call, config)
            printer.tool_result(result)
            results.append(result)
        charts = save_charts(results, charts_dir, THREAD)
        printer.charts(charts)
    artifact = results[-1].artifact or {}
    best = artifact.get("result") or ""
    described = [c["description"] for c in artifact.get("charts", []) if c.get("description")]
    printer.answer(
        f"{best.strip(chr(39))}.\n\nRevenue is units x unit_price per row, summed per "
        "region over all months; the chart shows each region's monthly revenue"
        + (f", in words: {described[0]}" if described else ".")
        + "\n",
        title="result (the demo's summary, not a model's)",
    )
    console.print(f"\n[bold]To let a model run this analysis[/] ({why}):")
    for line in (
        "  export OPENAI_API_KEY=sk-...   # OpenAI; the model is $OPENAI_MODEL or gpt-4o-mini",
        "  # or any OpenAI-compatible server (vLLM, Ollama, LM Studio...):",
        "  export OPENAI_BASE_URL=http://localhost:11434/v1 OPENAI_MODEL=qwen2.5",
        "  make demo",
    ):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    where = os.path.join(charts_dir, THREAD)
    written = [c for c in charts if c.get("kind", "chart") == "chart"]
    console.print(f"charts: {len(written)} written to {where}/", soft_wrap=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the demo; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charts-dir", default="demo-output")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument(
        "--offline", action="store_true", help="skip the model even when one is configured"
    )
    args = parser.parse_args(argv)
    console = Console()
    console.rule("langchain-daytona-exec demo")
    console.print(f"[bold]question:[/] {args.question}\n")
    if not args.offline:
        try:
            return run_with_model(console, args.charts_dir, args.question)
        except ModelNotConfiguredError:
            why = "no OPENAI_API_KEY or OPENAI_BASE_URL is set"
        except OpenAIError as exc:  # unreachable server, bad key, unknown model...
            console.print(f"[red]error: the model call failed:[/] {exc}", soft_wrap=True)
            why = f"the configured model failed: {type(exc).__name__}; check the settings"
    else:
        why = "--offline was given"
    return run_without_model(console, args.charts_dir, why)


if __name__ == "__main__":
    sys.exit(main())
