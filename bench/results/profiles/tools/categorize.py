import sys, re, collections
# perf script -F tid,ip,sym,dso  (callchain lines indented)
writer_tids = set(sys.argv[2].split(',')) if len(sys.argv) > 2 else set()
samples = []
cur = None
for line in open(sys.argv[1], errors='replace'):
    if not line.strip():
        if cur: samples.append(cur); cur = None
        continue
    if not line.startswith('\t'):
        if cur: samples.append(cur)
        cur = {'tid': line.split()[0].split('/')[-1], 'frames': []}
    else:
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            rest = parts[1]
            m = re.match(r'(.*) \((.*)\)$', rest)
            sym, dso = (m.group(1), m.group(2)) if m else (rest, '')
            cur['frames'].append((sym, dso))
if cur: samples.append(cur)
def cat(s):
    fr = s['frames']
    if not fr: return 'unknown'
    sym, dso = fr[0]
    chain = ' '.join(f[0] for f in fr)
    kernel = 'kernel' in dso or dso.startswith('[')
    for key, name in [('__x64_sys_pwrite64', 'kernel: pwrite64 (WAL/db page writes)'), ('__libc_pwrite', 'kernel: pwrite64 (WAL/db page writes)'),
                      ('__x64_sys_fdatasync', 'kernel: fdatasync'), ('fdatasync', 'kernel: fdatasync'),
                      ('__x64_sys_pread64', 'kernel: pread64'), ('__x64_sys_futex', 'kernel: futex (locks, wakeups)'),
                      ('__x64_sys_sendmsg', 'kernel: sendmsg (TCP send)'), ('__x64_sys_recvmsg', 'kernel: recvmsg (TCP recv)'), ('sys_sendmsg', 'kernel: sendmsg (TCP send)'), ('sys_recvmsg', 'kernel: recvmsg (TCP recv)'), ('tcp_sendmsg', 'kernel: sendmsg (TCP send)'), ('tcp_recvmsg', 'kernel: recvmsg (TCP recv)'), ('generic_perform_write', 'kernel: pwrite64 (WAL/db page writes)'), ('ext4_sync_file', 'kernel: fdatasync'), ('exit_to_user_mode', 'kernel: other (scheduler)'),
                      ('__x64_sys_epoll_wait', 'kernel: epoll_wait'), ('net_rx_action', 'kernel: softirq network (loopback rx)'),
                      ('__x64_sys_epoll_ctl', 'kernel: epoll_ctl')]:
        if kernel and key in chain: return name
    if kernel: return 'kernel: other (' + ('scheduler' if re.search(r'schedule|switch|wake|irqrestore', sym) else 'misc') + ')'
    if 'sqlite' in dso: return 'SQLite library'
    if 'libc' in dso:
        if re.search(r'malloc|free|_int_|unlink_chunk|consolidate|tcache|arena', sym): return 'malloc/free (libc)'
        if re.search(r'mem(move|cpy|cmp|set|chr)|str', sym): return 'memmove/memcmp/memset (libc)'
        if re.search(r'pthread_mutex|lll_|futex|cond', sym): return 'pthread mutex/condvar (libc, user side)'
        if re.search(r'printf|strto|snprintf', sym): return 'printf/formatting (libc)'
        return 'libc other: ' + sym[:40]
    if 'libstdc++' in dso: return 'libstdc++'
    if 'possync-broker' in dso:
        if re.search(r'rapidjson|json|protocol::', sym): return 'JSON parse/serialize, protocol (broker)'
        if re.search(r'storage::', sym): return 'store glue (possync::storage)'
        if re.search(r'boost::beast|websocket|utf8_checker', sym): return 'Beast (websocket framing, utf8 check)'
        if re.search(r'boost::asio', sym): return 'Asio (executors, strands, reactor)'
        if re.search(r'possync::broker', sym): return 'broker logic (possync::broker)'
        return 'broker binary other: ' + sym[:50]
    return 'other: ' + dso
by = collections.defaultdict(collections.Counter)
tot = collections.Counter()
for s in samples:
    g = 'writer' if s['tid'] in writer_tids else 'io'
    by[g][cat(s)] += 1; tot[g] += 1
N = sum(tot.values())
print(f'total samples {N}')
for g in by:
    print(f'\n== {g} threads: {tot[g]} samples = {100*tot[g]/N:.1f}% of broker')
    for k, v in by[g].most_common(25):
        print(f'{100*v/N:6.1f}% of broker  {100*v/tot[g]:6.1f}% of thread group  {k}')
