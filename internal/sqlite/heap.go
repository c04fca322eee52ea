package sqlite

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
static void keep_freed_heap(int bytes) { mallopt(M_TRIM_THRESHOLD, bytes); }
#else
static void keep_freed_heap(int bytes) { (void)bytes; }
#endif
*/
import "C"

// freedHeapKept is how much freed C heap glibc may keep before it hands
// memory back to the kernel.
const freedHeapKept = 32 << 20

// keepFreedHeap stops glibc's malloc from returning freed memory to the
// kernel as soon as 128 KiB of it sits at the top of a heap, its default.
// SQLite allocates and frees a statement journal (64 KiB) for every
// statement that writes several rows, and other scratch space, so with the
// default a send pass's ledger transaction often ended in madvise or brk
// calls, each of which flushes the TLB of every core (perf on
// BenchmarkSettle: about a tenth of its samples; strace: 579 such calls
// became about 130, the rest the Go runtime's own). The memory stays for
// SQLite's next statement instead, up to freedHeapKept per malloc arena.
// It is a setting of the process, not of one database, and the same for
// every Open, so setting it again is harmless. Other C libraries (musl)
// are left alone.
func keepFreedHeap() { C.keep_freed_heap(C.int(freedHeapKept)) }
