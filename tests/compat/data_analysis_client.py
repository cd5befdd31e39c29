"""Drive langchain-daytona-data-analysis (pinned to daytona 0.194) against an emulator.

Runs in its own virtualenv (``make check-data-analysis`` makes it), with
``DAYTONA_API_KEY`` and ``DAYTONA_API_URL`` pointing at a running emulator. Exits 0 and
prints ``OK`` when the tool uploads a file to ``/home/daytona``, runs analysis code on
it, returns its chart, downloads a result and deletes its sandbox.
"""

from __future__ import annotations

import io
import sys

from langchain_daytona_data_analysis import DaytonaDataAnalysisTool

CODE = """
import csv
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open('/home/daytona/sales.csv')))
total = sum(int(r['amount']) for r in rows)
plt.bar([r['month'] for r in rows], [int(r['amount']) for r in rows])
plt.title('Sales')
plt.show()
open('/home/daytona/total.txt', 'w').write(str(total))
total
"""


def main() -> int:
    tool = DaytonaDataAnalysisTool()
    try:
        data = io.BytesIO(b"month,amount\njan,3\nfeb,5\n")
        data.name = "sales.csv"  # the tool names the remote file after it
        uploaded = tool.upload_file(data, description="monthly sales")
        assert uploaded.remote_path == "/home/daytona/sales.csv", uploaded.remote_path
        artifacts = tool.invoke({"data_analysis_python_code": CODE})
        assert "8" in artifacts.stdout, artifacts
        [chart] = artifacts.charts
        assert chart.title == "Sales" and chart.type == "bar", chart
        assert tool.download_file("/home/daytona/total.txt") == b"8"
        tool.remove_uploaded_file(uploaded)
    finally:
        tool.close()
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
