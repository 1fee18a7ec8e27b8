"""A real X application for the screenshot tests and benchmark: a full-screen Tk window that turns a
new colour ``--delay-ms`` after each click (or keeps repainting when ``--busy``).

It prints ``ready`` once its window is mapped, and ``changed <monotonic>`` when the colour changes,
so a test can tell when the effect became visible.
"""

from __future__ import annotations

import argparse
import time
import tkinter as tk

COLOURS = ["#204080", "#c03030", "#30a050", "#d0b020", "#8040a0"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--delay-ms", type=int, default=150)
    ap.add_argument("--busy", action="store_true", help="repaint a moving bar every 30 ms, forever")
    ap.add_argument("--pattern", action="store_true", help="draw a detailed pattern (a busy screen to encode)")
    args = ap.parse_args()
    root = tk.Tk()
    width, height = root.winfo_screenwidth(), root.winfo_screenheight()
    root.geometry(f"{width}x{height}+0+0")
    root.overrideredirect(True)
    canvas = tk.Canvas(root, width=width, height=height, highlightthickness=0, bg=COLOURS[0])
    canvas.pack()
    state = {"n": 0, "x": 0}
    if args.pattern:
        for i in range(0, width, 8):
            for j in range(0, height, 24):
                canvas.create_text(i * 3 % width, j, text=f"{i * j % 97:02d}", fill=COLOURS[(i + j) % 5], anchor="nw")

    def change() -> None:
        state["n"] += 1
        canvas.configure(bg=COLOURS[state["n"] % len(COLOURS)])
        root.update_idletasks()
        print(f"changed {time.monotonic():.6f}", flush=True)

    def click(_event: object) -> None:
        root.after(args.delay_ms, change)

    bar = canvas.create_rectangle(0, 0, 40, height, fill="white", outline="")

    def tick() -> None:
        state["x"] = (state["x"] + 13) % width
        canvas.coords(bar, state["x"], 0, state["x"] + 40, height)
        root.after(30, tick)

    if not args.busy:
        canvas.delete(bar)
    else:
        root.after(30, tick)
    canvas.bind("<Button-1>", click)
    root.bind("<Key>", click)
    root.after(200, lambda: print("ready", flush=True))
    root.mainloop()


if __name__ == "__main__":
    main()
