"""`python -m bench.fax_density --table` (issue #21): the table of sessions per core, ours against spandsp, and its
PNG plot, on one short call each way."""
import struct

from trunkline.bench.fax_density import main


def test_table_mode_prints_each_row_and_writes_the_plot(tmp_path, capsys):
    plot = tmp_path / "fax.png"
    main(["--table", "--counts", "1", "--seconds", "4", "--repeat", "1", "--ecm", "--plot", str(plot)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["sessions", "ours"]
    row = lines[1].split()
    assert row[0] == "1" and len(row) == 7 and all(float(x) > 0 for x in row[1:])   # both sides ran and used CPU
    assert lines[-1] == f"plot: {plot}"
    data = plot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])        # IHDR: the figure's size in pixels
    assert width > 300 and height > 200
