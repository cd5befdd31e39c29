# A small analysis that `make demo` runs inside a fresh local sandbox.
# sales.csv is uploaded into the sandbox's workspace before this code runs.
import matplotlib.pyplot as plt
import pandas as pd

df = pd.read_csv("sales.csv")
df["revenue"] = df["units"] * df["unit_price"]
print(f"{len(df)} rows, columns: {', '.join(df.columns)}")

by_region = df.groupby("region")["revenue"].sum().sort_values(ascending=False)
print("\nRevenue by region:")
print(by_region.round(2).to_string())

monthly = df.pivot_table(index="month", columns="region", values="revenue", aggfunc="sum")
ax = monthly.plot(figsize=(8, 4), marker="o", title="Monthly revenue by region")
ax.set_ylabel("revenue")
plt.tight_layout()

best = by_region.index[0]
f"Best region: {best} ({by_region.iloc[0]:,.2f} total revenue)"
