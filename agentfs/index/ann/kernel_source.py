"""C source of the optional scan kernel (see :mod:`agentfs.index.ann.kernel`).

Kept as a Python string so it ships with the package like any module (no package-data entry) and
its hash keys the compiled library's cache. Every function computes what the numpy path computes,
exactly: int8 codes times an integer query (int16), summed in int32. The numpy path does the same
sums in float32, which is exact because the query is scaled so that no partial sum reaches 2^24
(:func:`agentfs.index.ann.search.integer_query`), so both paths return identical scores.

``target_clones`` compiles each loop twice, for AVX2 and for the baseline x86-64 (or once, on other
machines), and the loader picks the clone the CPU supports when the library is loaded: the cached
library is safe on any machine of the same architecture, unlike ``-march=native``.
"""

C_SOURCE = r"""
#define _XOPEN_SOURCE 700
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx2", "default")))
#else
#define CLONES
#endif

#define ABI_VERSION 2

int agentfs_ann_abi(void) { return ABI_VERSION; }

/* Dot product of n int8 codes with an int16 query. A constant n (the switch below) lets the
   compiler unroll the loop into whole vectors. */
static inline int32_t dot(const int8_t *code, const int16_t *query, int64_t n) {
    int32_t acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (int32_t)code[i] * (int32_t)query[i];
    return acc;
}

#define SCAN_BODY(N)                                                                       \
    for (int64_t l = 0; l < nlists; l++) {                                               \
        int64_t list = lists[l];                                                         \
        int64_t start = offsets[list], size = sizes[list];                               \
        const int8_t *entry = codes + start * stride;                                    \
        const int32_t *row = rows + start;                                               \
        for (int64_t j = 0; j < size; j++, entry += stride) {                            \
            scores[out] = (float)dot(entry, query, (N));                                 \
            out_rows[out] = row[j];                                                      \
            out++;                                                                       \
        }                                                                                \
    }

/* Scores of every entry of the given lists, in list order, and the row of each entry.
   codes: entries of `stride` bytes, the first `n` scored (the query is zero past the codes);
   rows: the row of each entry; offsets/sizes: first entry and length of each list.
   Returns the number of entries written. */
CLONES
int64_t agentfs_ann_scan_lists(const int8_t *codes, int64_t stride, int64_t n, const int32_t *rows,
                               const int64_t *offsets, const int64_t *sizes, const int64_t *lists,
                               int64_t nlists, const int16_t *query, float *scores, int32_t *out_rows) {
    int64_t out = 0;
    switch (n) {
    case 64: SCAN_BODY(64) break;
    case 128: SCAN_BODY(128) break;
    case 256: SCAN_BODY(256) break;
    default: SCAN_BODY(n) break;
    }
    return out;
}

#define ROWS_BODY(N)                                                                       \
    for (int64_t i = 0; i < count; i++)                                                  \
        scores[i] = (float)dot(codes + (int64_t)picked[i] * stride, query, (N));

/* Scores of chosen rows of a code matrix (rows of `stride` bytes, the first `n` scored). */
CLONES
void agentfs_ann_score_rows(const int8_t *codes, int64_t stride, int64_t n, const int32_t *picked,
                            int64_t count, const int16_t *query, float *scores) {
    switch (n) {
    case 64: ROWS_BODY(64) break;
    case 128: ROWS_BODY(128) break;
    case 256: ROWS_BODY(256) break;
    default: ROWS_BODY(n) break;
    }
}

/* Copy rows of `row_bytes` bytes, `per_page` whole rows per page of `page` bytes from `base`,
   out of file `fd` into `out` with one pread per row: the exact re-rank's few dozen rows, without
   mapping them (they would count as resident) or a Python call per page.
   Returns 0, or -1 - i when row i could not be read in full (errno tells why). */
int64_t agentfs_ann_read_rows(int fd, int64_t base, int64_t page, int64_t per_page, int64_t row_bytes,
                              const int64_t *rows, int64_t count, char *out) {
    for (int64_t i = 0; i < count; i++) {
        int64_t offset = base + (rows[i] / per_page) * page + (rows[i] % per_page) * row_bytes;
        int64_t done = 0;
        while (done < row_bytes) {
            ssize_t got = pread(fd, out + i * row_bytes + done, (size_t)(row_bytes - done), (off_t)(offset + done));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) return -1 - i;
            done += got;
        }
    }
    return 0;
}
"""
