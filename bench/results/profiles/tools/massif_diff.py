import re, sys
from collections import defaultdict
def load(path, wanted):
    snaps = {}
    cur = None; stack = []
    node_re = re.compile(r'^( *)n(\d+): (\d+) (.*)$')
    with open(path, errors='replace') as f:
        for line in f:
            if line.startswith('snapshot='):
                cur = int(line.split('=')[1]); stack = []
                if cur in wanted: snaps[cur] = {}
                continue
            if cur not in wanted: continue
            m = node_re.match(line)
            if not m: continue
            ind = len(m.group(1)); b = int(m.group(3)); fr = m.group(4)
            fr = re.sub(r'^0x[0-9A-F]+: ', '', fr)
            fr = re.sub(r'\(in /[^)]*\)', '', fr)
            stack = stack[:ind] + [fr]
            snaps[cur][tuple(stack[1:])] = snaps[cur].get(tuple(stack[1:]), 0) + b
    return snaps
a, b = int(sys.argv[2]), int(sys.argv[3]); n = float(sys.argv[4]); thr = float(sys.argv[5]) if len(sys.argv) > 5 else 100
s = load(sys.argv[1], {a, b})
keys = set(s[a]) | set(s[b])
d = {k: (s[b].get(k, 0) - s[a].get(k, 0)) / n for k in keys}
# print as tree: children of a path
children = defaultdict(list)
for k in keys:
    if len(k) >= 1: children[k[:-1]].append(k)
def short(fr):
    fr = re.sub(r'boost::asio::', 'asio::', fr); fr = re.sub(r'boost::beast::', 'beast::', fr)
    return fr if len(fr) < 230 else fr[:150] + ' ... ' + fr[-75:]
def walk(p, depth, maxdepth):
    kids = sorted(children.get(p, []), key=lambda k: -d[k])
    for k in kids:
        if abs(d[k]) < thr: continue
        print('  ' * depth + f'{d[k]:9.1f}  ' + short(k[-1]))
        if depth + 1 < maxdepth: walk(k, depth + 1, maxdepth)
print(f'total per conn: {d[()]:.1f}')
walk((), 0, int(sys.argv[6]) if len(sys.argv) > 6 else 12)
