/*
 * askbot.search._chunks: text -> term ids through a table of whitespace-separated chunks.
 *
 * TermIds (tokenize_parallel.py) maps a passage to term ids chunk by chunk: no token spans
 * whitespace, so a text's terms are its chunks' terms in order, and each distinct chunk is
 * analysed once. In Python every chunk of every passage becomes a str (str.split) that is hashed
 * and looked up in a dict: at a million passages that is most of the cost of a build. This table
 * does the same without creating an object per chunk: it splits a str where str.split() splits
 * (Py_UNICODE_ISSPACE), hashes the chunk's code points in place and, if the chunk has been seen,
 * copies its term ids to the output. Only a chunk never seen before becomes a str, handed to a
 * Python callback (the analyzer) whose term ids are then kept in an arena.
 *
 * Keys are code points, not bytes of one PEP 393 kind: a chunk of a UCS-2 text that holds only
 * Latin-1 characters is the same key as that chunk in a Latin-1 text. A key is stored in its
 * smallest kind (the kind of the str the callback received), so equal chunks have equal kinds.
 *
 * The table runs under the GIL (the callback needs it) and refuses to be re-entered from a
 * callback. A callback that raises, or returns something that is not a sequence of int32s, leaves
 * the table as it was before that chunk: nothing is stored until every allocation has succeeded.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * Layout. Chunks are records in one arena: a header, the chunk's term ids (int32), then its
 * code points in its kind, padded to 8 bytes. A slot of the open-addressing table (linear
 * probing, at most half full) packs the top bits of the chunk's hash, checked before the record
 * is read, with the record's offset / 8 + 1 (0 marks an empty slot; 2^40 * 8 bytes is far beyond
 * any memory). A lookup usually touches two cache lines: the slot and the record.
 *
 * Chunks of a batch are looked up a window at a time: all hashed first (prefetching their slots),
 * then their first candidate records prefetched, then compared, so the cache misses of a window
 * overlap instead of following one another.
 */
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

/* Strings are always ready from 3.12 on, where PyUnicode_READY is deprecated. */
#if PY_VERSION_HEX < 0x030C0000
#define READY(s) PyUnicode_READY(s)
#else
#define READY(s) 0
#endif

#define OFF_BITS 40
#define OFF_MASK ((UINT64_C(1) << OFF_BITS) - 1)
#define TAG_MASK (~OFF_MASK)
#define WINDOW 64
/* Longer chunks are not kept (their length does not fit the header): analysed each time. */
#define MAX_KEY_LEN ((Py_ssize_t)1 << 28)

typedef struct {
    uint64_t hash;
    uint32_t terms; /* term ids after the header */
    uint32_t key;   /* code points << 3 | kind code << 1 | shouted (see packed_key) */
} Head;

typedef struct {
    PyObject_HEAD
    uint64_t seed;
    uint64_t *slots;
    size_t mask; /* slots - 1; slots is a power of two */
    Py_ssize_t count;
    char *arena; /* records, 8-byte aligned */
    Py_ssize_t arena_len, arena_cap;
    Py_ssize_t term_count;
    /* The window being looked up (kept between calls, so allocated once). */
    struct Pending *pending;
    /* Whitespace bits of the Latin-1 text being split (space_bits), kept between texts. */
    uint64_t *bits;
    Py_ssize_t bits_cap;
    int busy;
} Table;

typedef struct Pending {
    Py_ssize_t text; /* index in the batch */
    Py_ssize_t start, len;
    uint64_t hash;
    uint32_t key;
} Pending;

/* Py_UNICODE_ISSPACE for Latin-1, by table: most texts are Latin-1, and above ASCII the macro
 * calls a function. */
static uint8_t space1[256];

static inline int is_space(Py_UCS4 c) { return c < 256 ? space1[c] : Py_UNICODE_ISSPACE(c); }

#if defined(__SSE2__)
#include <emmintrin.h>
#define SPACE_SSE2 1
/* Whether SSE2 finds exactly space1's characters (checked once at import; else not used). */
static int sse2_spaces_exact;

static inline __m128i in_range(__m128i x, int lo, int count) {
    __m128i d = _mm_sub_epi8(x, _mm_set1_epi8((char)lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8((char)(count - 1))), d);
}

/* Bit j: byte j of the 16 at p is Latin-1 whitespace (\t-\r, \x1c-\x1f, " ", \x85, \xa0). */
static inline unsigned spaces16(const uint8_t *p) {
    __m128i x = _mm_loadu_si128((const __m128i *)p);
    __m128i m = _mm_or_si128(in_range(x, 9, 5), in_range(x, 0x1c, 5));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8((char)0x85)));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8((char)0xa0)));
    return (unsigned)_mm_movemask_epi8(m);
}

/* Whether SSE2 classifies ASCII exactly as printable1, line_class1, hash_class1 and lower1 do
 * (checked once at import; else the tables are used). */
static int sse2_ascii_exact;

/* For the 16 bytes at p: bits of the printable ASCII ones (" " to "~"), of the spaces, of the
 * bytes above ASCII, and of the other ASCII whitespace (\t to \r, \x1c to \x1f). */
typedef struct {
    unsigned printable, spaces, high, other_space;
} Ascii16;

static inline Ascii16 ascii16(__m128i x) {
    Ascii16 r;
    r.printable = (unsigned)_mm_movemask_epi8(in_range(x, 0x20, 95));
    r.spaces = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')));
    r.high = (unsigned)_mm_movemask_epi8(x);
    r.other_space = (unsigned)_mm_movemask_epi8(_mm_or_si128(in_range(x, 9, 5), in_range(x, 0x1c, 4)));
    return r;
}

/* ASCII lowercased: "A" to "Z" get bit 0x20. */
static inline __m128i ascii_lower16(__m128i x) {
    return _mm_or_si128(x, _mm_and_si128(in_range(x, 'A', 26), _mm_set1_epi8(0x20)));
}
#else
#define SPACE_SSE2 0
#endif

static inline uint64_t fmix64(uint64_t h) {
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/*
 * A chunk's hash is over its code points as stored in the smallest kind that holds them (its
 * key's kind): those bytes are read 8 at a time (the last word zero-padded), so a chunk hashes
 * the same whatever the kind of the text it came from. For Latin-1 text (most text) the words
 * are read straight from the text.
 */
#define WORD_MUL UINT64_C(0x9e3779b97f4a7c15)

static inline uint64_t hash_word(uint64_t h, uint64_t w) { return (h ^ w) * WORD_MUL; }

static inline uint64_t hash_end(uint64_t h, Py_ssize_t len, int shouted) {
    return fmix64(h ^ ((uint64_t)len << 1) ^ (uint64_t)shouted);
}

/* The first n (< 8) bytes of p as a word, the rest zero; p + 8 may be past the data's end. */
static inline uint64_t tail_word(const uint8_t *p, Py_ssize_t n) {
    uint8_t b[8] = {0};
    memcpy(b, p, (size_t)n);
    uint64_t w;
    memcpy(&w, b, 8);
    return w;
}

/* Bytes [p, p + len) of Latin-1 text hashed; ``end`` is the text's end (no read beyond it). */
static inline uint64_t hash_bytes(uint64_t h, const uint8_t *p, Py_ssize_t len, const uint8_t *end) {
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = hash_word(h, w);
    }
    if (len == 0) return h;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (end - p >= 8) { /* one load, the bytes past the chunk masked off */
        uint64_t w;
        memcpy(&w, p, 8);
        return hash_word(h, w & (~UINT64_C(0) >> (64 - 8 * len)));
    }
#else
    (void)end;
#endif
    return hash_word(h, tail_word(p, len));
}

/* A chunk of a wider text: its code points as kind ``to`` (1, 2 or 4 bytes each), hashed. */
static uint64_t hash_narrowed(uint64_t h, int kind, const void *data, Py_ssize_t start, Py_ssize_t len, int to) {
    uint8_t b[8];
    Py_ssize_t per = 8 / to, j = 0;
    while (j < len) {
        memset(b, 0, 8);
        for (Py_ssize_t k = 0; k < per && j < len; k++, j++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, start + j);
            if (to == 1) b[k] = (uint8_t)c;
            else if (to == 2) {
                uint16_t u = (uint16_t)c;
                memcpy(b + 2 * k, &u, 2);
            } else {
                uint32_t u = (uint32_t)c;
                memcpy(b + 4 * k, &u, 4);
            }
        }
        uint64_t w;
        memcpy(&w, b, 8);
        h = hash_word(h, w);
    }
    return h;
}

/* Code points, the smallest kind that holds them and the shouted flag, in one comparison. */
static inline uint32_t packed_key(Py_ssize_t len, Py_UCS4 bits, int shouted) {
    uint32_t code = bits < 0x100 ? 0 : bits < 0x10000 ? 1 : 2;
    return (uint32_t)len << 3 | code << 1 | (uint32_t)shouted;
}

static inline int key_kind(uint32_t key) { return 1 << ((key >> 1) & 3); }

static inline Py_ssize_t key_len(uint32_t key) { return (Py_ssize_t)(key >> 3); }

static inline Py_ssize_t record_size(const Head *h) {
    Py_ssize_t bytes = (Py_ssize_t)sizeof(Head) + (Py_ssize_t)h->terms * 4 + key_len(h->key) * key_kind(h->key);
    return (bytes + 7) & ~(Py_ssize_t)7;
}

static inline const int32_t *record_terms(const Head *h) { return (const int32_t *)(h + 1); }

static inline const char *record_key(const Head *h) {
    return (const char *)(h + 1) + (size_t)h->terms * 4;
}

static inline Head *record_at(const Table *t, uint64_t slot) {
    return (Head *)(t->arena + ((slot & OFF_MASK) - 1) * 8);
}

static void place(uint64_t *slots, size_t mask, uint64_t hash, Py_ssize_t off) {
    size_t pos = (size_t)hash & mask;
    while (slots[pos]) pos = (pos + 1) & mask;
    slots[pos] = (hash & TAG_MASK) | (uint64_t)(off / 8 + 1);
}

/* Room for one more chunk with at most half the slots full: doubles and rehashes the arena. */
static int reserve_slot(Table *t) {
    size_t size = t->mask + 1;
    if ((size_t)(t->count + 1) * 2 <= size) return 0;
    if (size > SIZE_MAX / 2 / sizeof(uint64_t)) {
        PyErr_NoMemory();
        return -1;
    }
    size_t grown = size * 2;
    uint64_t *slots = PyMem_Calloc(grown, sizeof(uint64_t));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t off = 0; off < t->arena_len;) {
        const Head *h = (const Head *)(t->arena + off);
        place(slots, grown - 1, h->hash, off);
        off += record_size(h);
    }
    PyMem_Free(t->slots);
    t->slots = slots;
    t->mask = grown - 1;
    return 0;
}

/* Grow *buf (room for *cap items of `item` bytes; `first` when empty) by doubling until it holds
 * `need` items, never past `max_cap` items; MemoryError and -1 when it cannot. */
static int grow_doubling(void **buf, Py_ssize_t *cap, Py_ssize_t need, Py_ssize_t first,
                         size_t item, Py_ssize_t max_cap) {
    Py_ssize_t n = *cap ? *cap : first;
    while (n < need) {
        if (n > max_cap / 2) {
            PyErr_NoMemory();
            return -1;
        }
        n *= 2;
    }
    void *p = PyMem_Realloc(*buf, (size_t)n * item);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *buf = p;
    *cap = n;
    return 0;
}

/* The arena's bytes are addressed in 8-byte units by a slot's OFF_BITS offset bits. */
#define ARENA_MAX \
    ((Py_ssize_t)(8 * OFF_MASK - 1 < (uint64_t)PY_SSIZE_T_MAX ? 8 * OFF_MASK - 1 : PY_SSIZE_T_MAX))

static int reserve_arena(Table *t, Py_ssize_t need) {
    if (need <= t->arena_cap) return 0;
    void *arena = t->arena;
    if (grow_doubling(&arena, &t->arena_cap, need, 4096, 1, ARENA_MAX) < 0) return -1;
    t->arena = arena;
    return 0;
}

static inline int differ8(const char *a, const char *b) {
    uint64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    return x != y;
}

static inline int differ4(const char *a, const char *b) {
    uint32_t x, y;
    memcpy(&x, a, 4);
    memcpy(&y, b, 4);
    return x != y;
}

static inline int differ2(const char *a, const char *b) {
    uint16_t x, y;
    memcpy(&x, a, 2);
    memcpy(&y, b, 2);
    return x != y;
}

/* memcmp(a, b, n) == 0 for short keys: a few overlapping word loads, never past either end. */
static inline int same_bytes(const char *a, const char *b, size_t n) {
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            if (differ8(a + i, b + i)) return 0;
        return !differ8(a + n - 8, b + n - 8);
    }
    if (n >= 4) return !differ4(a, b) && !differ4(a + n - 4, b + n - 4);
    if (n >= 2) return !differ2(a, b) && !differ2(a + n - 2, b + n - 2);
    return n == 0 || *a == *b;
}

/* The chunk equals the record's key (same length, kind and shouted flag are already checked). */
static inline int same_key(const Head *h, int kind, const void *data, Py_ssize_t start, Py_ssize_t len) {
    const char *key = record_key(h);
    int kkind = key_kind(h->key);
    if (kkind == kind) {
        return same_bytes(key, (const char *)data + start * kind, (size_t)len * (size_t)kind);
    }
    /* A chunk of a wider text whose characters all fit a smaller kind. */
    for (Py_ssize_t j = 0; j < len; j++)
        if (PyUnicode_READ(kkind, key, j) != PyUnicode_READ(kind, data, start + j)) return 0;
    return 1;
}

typedef struct {
    int32_t *ids;
    Py_ssize_t len, cap;
} Out;

static int out_grow(Out *out, Py_ssize_t need) {
    void *ids = out->ids;
    if (grow_doubling(&ids, &out->cap, need, 1024, 4, PY_SSIZE_T_MAX / 4) < 0) return -1;
    out->ids = ids;
    return 0;
}

static inline int put(Out *out, const int32_t *ids, Py_ssize_t n) {
    if (out->len + n > out->cap && out_grow(out, out->len + n) < 0) return -1;
    int32_t *to = out->ids + out->len;
    for (Py_ssize_t j = 0; j < n; j++) to[j] = ids[j];
    out->len += n;
    return 0;
}

/* A chunk not in the table: the callback's term ids are written out and, unless the chunk is too
 * long to keep, stored (all or nothing: the table changes only once everything succeeded). */
static int add(Table *t, PyObject *callback, PyObject *text, const Pending *c, Out *out) {
    PyObject *chunk = PyUnicode_Substring(text, c->start, c->start + c->len);
    if (chunk == NULL) return -1;
    int shouted = (int)(c->key & 1);
    /* Python code runs from here to the commit (the callback, __index__ of what it returns):
     * none of it may change the table under this call. */
    t->busy = 1;
    PyObject *found = PyObject_CallFunctionObjArgs(callback, chunk, shouted ? Py_True : Py_False, NULL);
    PyObject *seq = NULL;
    int rc = -1;
    if (found == NULL) goto done;
    seq = PySequence_Fast(found, "the chunk callback must return a sequence of term ids");
    if (seq == NULL) goto done;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    /* The str the callback got is in its smallest kind (a CPython invariant), which the key
     * assumes; were it not, the chunk is only not kept. */
    int kept = c->len < MAX_KEY_LEN && n <= (Py_ssize_t)INT32_MAX && PyUnicode_KIND(chunk) == key_kind(c->key);
    Py_ssize_t off = t->arena_len, size = 0;
    if (kept) {
        size = ((Py_ssize_t)sizeof(Head) + n * 4 + c->len * key_kind(c->key) + 7) & ~(Py_ssize_t)7;
        if (reserve_arena(t, off + size) < 0 || reserve_slot(t) < 0) goto done;
    }
    if (out->len + n > out->cap && out_grow(out, out->len + n) < 0) goto done;
    int32_t *ids = out->ids + out->len;
    for (Py_ssize_t j = 0; j < n; j++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, j));
        if (v == -1 && PyErr_Occurred()) goto done;
        if (v < 0 || v > INT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "a term id must be in 0 .. 2**31 - 1");
            goto done;
        }
        ids[j] = (int32_t)v;
    }
    out->len += n;
    rc = 0;
    if (!kept) goto done;
    /* Everything is in hand: only now does the table change. */
    Head *h = (Head *)(t->arena + off);
    h->hash = c->hash;
    h->terms = (uint32_t)n;
    h->key = c->key;
    memcpy((char *)(h + 1), ids, (size_t)n * 4);
    memcpy((char *)(h + 1) + n * 4, PyUnicode_DATA(chunk), (size_t)(c->len * key_kind(c->key)));
    place(t->slots, t->mask, c->hash, off);
    t->arena_len = off + size;
    t->count++;
    t->term_count += n;
done:
    t->busy = 0;
    Py_XDECREF(seq);
    Py_XDECREF(found);
    Py_DECREF(chunk);
    return rc;
}

/* The record of a pending chunk, or NULL. */
static inline const Head *find(const Table *t, PyObject *text, const Pending *c) {
    uint64_t tag = c->hash & TAG_MASK;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    for (size_t pos = (size_t)c->hash & t->mask;; pos = (pos + 1) & t->mask) {
        uint64_t s = t->slots[pos];
        if (s == 0) return NULL;
        if ((s & TAG_MASK) != tag) continue;
        const Head *h = record_at(t, s);
        if (h->hash == c->hash && h->key == c->key && same_key(h, kind, data, c->start, c->len)) return h;
    }
}

/* Looks up (or adds) the window's chunks, in order, writing their term ids out. */
static int flush(Table *t, PyObject *texts, PyObject *callback, Py_ssize_t pending, Out *out,
                 int64_t *count) {
    const Pending *p = t->pending;
    for (Py_ssize_t j = 0; j < pending; j++) {
        size_t pos = (size_t)p[j].hash & t->mask;
        uint64_t s = t->slots[pos];
        if ((s & TAG_MASK) == (p[j].hash & TAG_MASK) && s) PREFETCH(record_at(t, s));
    }
    for (Py_ssize_t j = 0; j < pending; j++) {
        PyObject *text = PyTuple_GET_ITEM(texts, p[j].text);
        Py_ssize_t before = out->len;
        const Head *h = p[j].len < MAX_KEY_LEN ? find(t, text, &p[j]) : NULL;
        if (h != NULL ? put(out, record_terms(h), h->terms) < 0 : add(t, callback, text, &p[j], out) < 0)
            return -1;
        count[p[j].text] += out->len - before;
    }
    return 0;
}

/* Queues a chunk for lookup, flushing the window when it is full (or jumps to error). */
#define QUEUE(START, LEN, HASH, BITS)                                                          \
    do {                                                                                       \
        Pending *c = &t->pending[pending++];                                                   \
        c->text = k;                                                                           \
        c->start = (START);                                                                    \
        c->len = (LEN);                                                                        \
        c->hash = (HASH);                                                                      \
        c->key = c->len < MAX_KEY_LEN ? packed_key(c->len, (BITS), shouted) : 0;               \
        PREFETCH(&t->slots[(size_t)c->hash & t->mask]);                                       \
        if (pending == WINDOW) {                                                               \
            if (flush(t, texts, callback, pending, &out, count) < 0) goto error;               \
            pending = 0;                                                                       \
        }                                                                                      \
    } while (0)

/* The chunks of a UCS-2 or UCS-4 text, in order: split where str.split() splits, each hashed
 * over its code points in the smallest kind that holds them (as a Latin-1 text's chunk is). */
#define WIDE_CHUNKS(T)                                                                         \
    do {                                                                                       \
        const T *s = (const T *)data;                                                          \
        Py_ssize_t i = 0;                                                                      \
        for (;;) {                                                                             \
            while (i < n && is_space(s[i])) i++;                                               \
            if (i >= n) break;                                                                 \
            Py_ssize_t start = i;                                                              \
            Py_UCS4 bits = 0;                                                                  \
            for (; i < n && !is_space(s[i]); i++) bits |= s[i];                                \
            int to = bits < 0x100 ? 1 : bits < 0x10000 ? 2 : 4;                                \
            uint64_t h = hash_narrowed(t->seed, kind, data, start, i - start, to);             \
            QUEUE(start, i - start, hash_end(h, i - start, shouted), bits);                    \
        }                                                                                      \
    } while (0)

/* bits[i / 64] onwards (i a multiple of 64), by table: bit j is table[s[j]] for j < n, and
 * `fill` (all bits or none) from n on and in the whole word after the last. What the SSE2
 * loops leave, and all of a text where SSE2 is not exact. */
static void table_bits(const Py_UCS1 *s, Py_ssize_t i, Py_ssize_t n, const uint8_t *table,
                       uint64_t fill, uint64_t *bits) {
    for (; i < n; i += 64) {
        uint64_t m = 0;
        Py_ssize_t stop = n - i < 64 ? n - i : 64;
        for (Py_ssize_t j = 0; j < stop; j++) m |= (uint64_t)table[s[i + j]] << j;
        if (stop < 64) m |= fill << stop;
        bits[i / 64] = m;
    }
    bits[(n + 63) / 64] = fill;
}

/* Bit i of bits[i / 64]: character i of a Latin-1 text is whitespace; bits from n on are set
 * (the text ends as if in spaces), with one whole word of them after the last. Found 16
 * characters at a time where SSE2 is (every x86-64), so the chunks are then walked by bit scans
 * instead of a branch per character. */
static int space_bits(Table *t, const Py_UCS1 *s, Py_ssize_t n) {
    Py_ssize_t words = n / 64 + 2;
    if (words > t->bits_cap) {
        uint64_t *b = PyMem_Realloc(t->bits, (size_t)words * sizeof(uint64_t));
        if (b == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->bits = b;
        t->bits_cap = words;
    }
    uint64_t *bits = t->bits;
    Py_ssize_t i = 0;
#if SPACE_SSE2
    for (; sse2_spaces_exact && i + 64 <= n; i += 64) {
        uint64_t m = 0;
        for (int q = 0; q < 4; q++) m |= (uint64_t)spaces16(s + i + 16 * q) << (16 * q);
        bits[i / 64] = m;
    }
#endif
    table_bits(s, i, n, space1, ~UINT64_C(0), bits);
    return 0;
}

#if defined(__GNUC__) || defined(__clang__)
#define CTZ64(x) __builtin_ctzll(x)
#else
static inline int CTZ64(uint64_t x) {
    int r = 0;
    while (!(x & 1)) x >>= 1, r++;
    return r;
}
#endif

static PyObject *Table_batch(Table *t, PyObject *args) {
    PyObject *texts_in, *callback;
    Py_buffer flags;
    if (!PyArg_ParseTuple(args, "Oy*O:batch", &texts_in, &flags, &callback)) return NULL;
    PyObject *texts = NULL, *tokens = NULL, *counts = NULL;
    Out out = {NULL, 0, 0};
    Py_ssize_t pending = 0;
    if (t->busy) {
        PyErr_SetString(PyExc_RuntimeError, "ChunkTable.batch called again from its own callback");
        goto error;
    }
    /* A tuple: the callback cannot change what is being read. */
    texts = PySequence_Tuple(texts_in);
    if (texts == NULL) goto error;
    Py_ssize_t ntexts = PyTuple_GET_SIZE(texts);
    if (flags.len != ntexts) {
        PyErr_SetString(PyExc_ValueError, "one shouted flag per text is needed");
        goto error;
    }
    for (Py_ssize_t k = 0; k < ntexts; k++) {
        PyObject *text = PyTuple_GET_ITEM(texts, k);
        if (!PyUnicode_Check(text)) {
            PyErr_Format(PyExc_TypeError, "texts must be str, not %.100s", Py_TYPE(text)->tp_name);
            goto error;
        }
        if (READY(text) < 0) goto error;
    }
    counts = PyByteArray_FromStringAndSize(NULL, ntexts * (Py_ssize_t)sizeof(int64_t));
    if (counts == NULL) goto error;
    int64_t *count = (int64_t *)PyByteArray_AS_STRING(counts);
    memset(count, 0, (size_t)ntexts * sizeof(int64_t));
    const uint8_t *shouts = flags.buf;
    for (Py_ssize_t k = 0; k < ntexts; k++) {
        PyObject *text = PyTuple_GET_ITEM(texts, k);
        int kind = PyUnicode_KIND(text);
        const void *data = PyUnicode_DATA(text);
        Py_ssize_t n = PyUnicode_GET_LENGTH(text);
        int shouted = shouts[k] != 0;
        if (kind == PyUnicode_1BYTE_KIND) {
            const Py_UCS1 *s = (const Py_UCS1 *)data;
            if (space_bits(t, s, n) < 0) goto error;
            const uint64_t *bits = t->bits;
            Py_ssize_t i = 0;
            for (;;) {
                /* The next non-space character (none from n on)... */
                uint64_t w = ~bits[i >> 6] >> (i & 63);
                while (w == 0) {
                    i = (i | 63) + 1;
                    if (i >= n) break;
                    w = ~bits[i >> 6];
                }
                if (i >= n) break;
                i += CTZ64(w);
                Py_ssize_t start = i;
                /* ...and the next space after it (n at the latest). */
                w = bits[i >> 6] >> (i & 63);
                while (w == 0) {
                    i = (i | 63) + 1;
                    w = bits[i >> 6];
                }
                i += CTZ64(w);
                uint64_t h = hash_bytes(t->seed, s + start, i - start, s + n);
                QUEUE(start, i - start, hash_end(h, i - start, shouted), 0);
            }
        } else if (kind == PyUnicode_2BYTE_KIND)
            WIDE_CHUNKS(Py_UCS2);
        else
            WIDE_CHUNKS(Py_UCS4);
    }
    if (flush(t, texts, callback, pending, &out, count) < 0) goto error;
    tokens = PyByteArray_FromStringAndSize((const char *)out.ids, out.len * (Py_ssize_t)sizeof(int32_t));
    if (tokens == NULL) goto error;
    PyMem_Free(out.ids);
    Py_DECREF(texts);
    PyBuffer_Release(&flags);
    PyObject *result = PyTuple_Pack(2, tokens, counts);
    Py_DECREF(tokens);
    Py_DECREF(counts);
    return result;
error:
    PyMem_Free(out.ids);
    Py_XDECREF(texts);
    Py_XDECREF(counts);
    PyBuffer_Release(&flags);
    return NULL;
}

/* str.isprintable and " ".join(s.split()) == s, by table for Latin-1: the build asks both of
 * every passage, and str.isprintable looks each character up in the Unicode database. */
static uint8_t printable1[256];

#define ALL_PRINTABLE(T)                                                                       \
    do {                                                                                       \
        const T *s = (const T *)data;                                                          \
        for (Py_ssize_t i = 0; i < n; i++)                                                     \
            if (s[i] < 256 ? !printable1[s[i]] : !Py_UNICODE_ISPRINTABLE(s[i])) Py_RETURN_FALSE; \
    } while (0)

/* The kind, code points and length of a str argument of ``fn``; -1 (an error set) otherwise. */
static int text_view(PyObject *text, const char *fn, int *kind, const void **data, Py_ssize_t *n) {
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "%s() needs a str, not %.100s", fn, Py_TYPE(text)->tp_name);
        return -1;
    }
    if (READY(text) < 0) return -1;
    *kind = PyUnicode_KIND(text);
    *data = PyUnicode_DATA(text);
    *n = PyUnicode_GET_LENGTH(text);
    return 0;
}

static PyObject *isprintable(PyObject *Py_UNUSED(module), PyObject *text) {
    int kind;
    const void *data;
    Py_ssize_t n;
    if (text_view(text, "isprintable", &kind, &data, &n) < 0) return NULL;
    if (kind == PyUnicode_1BYTE_KIND) {
#if SPACE_SSE2
        /* 16 at a time; a block with a byte that is not printable ASCII goes by table. */
        const Py_UCS1 *s = (const Py_UCS1 *)data;
        Py_ssize_t i = 0;
        for (; sse2_ascii_exact && i + 16 <= n; i += 16) {
            if (ascii16(_mm_loadu_si128((const __m128i *)(s + i))).printable == 0xffffu) continue;
            for (int j = 0; j < 16; j++)
                if (!printable1[s[i + j]]) Py_RETURN_FALSE;
        }
        data = s + i;
        n -= i;
#endif
        ALL_PRINTABLE(Py_UCS1);
    }
    else if (kind == PyUnicode_2BYTE_KIND)
        ALL_PRINTABLE(Py_UCS2);
    else
        ALL_PRINTABLE(Py_UCS4);
    Py_RETURN_TRUE;
}

/* No whitespace but single spaces between other characters. */
#define FOLDED(T)                                                                              \
    do {                                                                                       \
        const T *s = (const T *)data;                                                          \
        int after_space = 1;                                                                   \
        for (Py_ssize_t i = 0; i < n; i++) {                                                   \
            if (!is_space(s[i])) {                                                             \
                after_space = 0;                                                               \
                continue;                                                                      \
            }                                                                                  \
            if (s[i] != ' ' || after_space) Py_RETURN_FALSE;                                   \
            after_space = 1;                                                                   \
        }                                                                                      \
        if (n && after_space) Py_RETURN_FALSE;                                                 \
    } while (0)

static PyObject *spaces_folded(PyObject *Py_UNUSED(module), PyObject *text) {
    int kind;
    const void *data;
    Py_ssize_t n;
    if (text_view(text, "spaces_folded", &kind, &data, &n) < 0) return NULL;
    if (kind == PyUnicode_1BYTE_KIND)
        FOLDED(Py_UCS1);
    else if (kind == PyUnicode_2BYTE_KIND)
        FOLDED(Py_UCS2);
    else
        FOLDED(Py_UCS4);
    Py_RETURN_TRUE;
}

/* Printable, with no whitespace but single spaces between other characters: the common block
 * and paragraph, which needs no cleaning. For Latin-1 text a branch-free pass over a table of
 * three classes (printable, " ", other: every other whitespace character is unprintable). */
static uint8_t line_class1[256]; /* 0 printable and not " ", 1 " ", 2 unprintable */

static PyObject *folded_line(PyObject *Py_UNUSED(module), PyObject *text) {
    int kind;
    const void *data;
    Py_ssize_t n;
    if (text_view(text, "folded_line", &kind, &data, &n) < 0) return NULL;
    if (kind != PyUnicode_1BYTE_KIND) {
        /* Rare: the two checks one after the other. */
        PyObject *printable = isprintable(NULL, text);
        if (printable != Py_True) return printable;
        Py_DECREF(printable);
        return spaces_folded(NULL, text);
    }
    const Py_UCS1 *s = (const Py_UCS1 *)data;
    if (n && (s[0] == ' ' || s[n - 1] == ' ')) Py_RETURN_FALSE;
    unsigned previous = 0;
    Py_ssize_t i = 0;
#if SPACE_SSE2
    /* 16 at a time: printable ASCII and no space after a space needs no table. */
    for (; sse2_ascii_exact && i + 16 <= n; i += 16) {
        Ascii16 b = ascii16(_mm_loadu_si128((const __m128i *)(s + i)));
        if (b.printable != 0xffffu)
            for (int j = 0; j < 16; j++)
                if (line_class1[s[i + j]] >> 1) Py_RETURN_FALSE;
        if (b.spaces & ((b.spaces << 1) | previous)) Py_RETURN_FALSE;
        previous = b.spaces >> 15 & 1;
    }
#endif
    /* The test in the loop is almost never true, so it is predicted: cheaper than keeping an
     * accumulator. */
    for (; i < n; i++) {
        unsigned c = line_class1[s[i]];
        if ((c >> 1) | (c & previous)) Py_RETURN_FALSE;
        previous = c;
    }
    Py_RETURN_TRUE;
}

/* text.count(" ") without a branch per character: str.count branches on every match, and a
 * paragraph's spaces come at no predictable place (its word count decides its windows). */
#define COUNT_SPACES(T)                                                                        \
    do {                                                                                       \
        const T *s = (const T *)data;                                                          \
        for (Py_ssize_t i = 0; i < n; i++) count += s[i] == ' ';                               \
    } while (0)

static PyObject *count_spaces(PyObject *Py_UNUSED(module), PyObject *text) {
    int kind;
    const void *data;
    Py_ssize_t n, count = 0;
    if (text_view(text, "count_spaces", &kind, &data, &n) < 0) return NULL;
    if (kind == PyUnicode_1BYTE_KIND) {
#if SPACE_SSE2 && (defined(__GNUC__) || defined(__clang__))
        const uint8_t *s = (const uint8_t *)data;
        Py_ssize_t i = 0;
        for (; i + 16 <= n; i += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
            count += __builtin_popcount((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(' '))));
        }
        for (; i < n; i++) count += s[i] == ' ';
#else
        COUNT_SPACES(Py_UCS1);
#endif
    } else if (kind == PyUnicode_2BYTE_KIND)
        COUNT_SPACES(Py_UCS2);
    else
        COUNT_SPACES(Py_UCS4);
    return PyLong_FromSsize_t(count);
}

/* BLAKE2b (RFC 7693) with an 8-byte digest and no key: what hashlib.blake2b(data,
 * digest_size=8).digest() gives, as a little-endian integer. */
static const uint64_t blake2b_iv[8] = {
    UINT64_C(0x6a09e667f3bcc908), UINT64_C(0xbb67ae8584caa73b), UINT64_C(0x3c6ef372fe94f82b),
    UINT64_C(0xa54ff53a5f1d36f1), UINT64_C(0x510e527fade682d1), UINT64_C(0x9b05688c2b3e6c1f),
    UINT64_C(0x1f83d9abfb41bd6b), UINT64_C(0x5be0cd19137e2179),
};

static const uint8_t blake2b_sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static inline uint64_t rotr64(uint64_t x, int n) { return (x >> n) | (x << (64 - n)); }

static inline uint64_t load64(const uint8_t *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
#endif
}

#define B2G(a, b, c, d, x, y)                                                                  \
    do {                                                                                       \
        a = a + b + (x);                                                                       \
        d = rotr64(d ^ a, 32);                                                                 \
        c = c + d;                                                                             \
        b = rotr64(b ^ c, 24);                                                                 \
        a = a + b + (y);                                                                       \
        d = rotr64(d ^ a, 16);                                                                 \
        c = c + d;                                                                             \
        b = rotr64(b ^ c, 63);                                                                 \
    } while (0)

/* One round, its message schedule a constant the compiler folds (rounds are unrolled). */
#define B2ROUND(r)                                                                             \
    do {                                                                                       \
        B2G(v0, v4, v8, v12, m[blake2b_sigma[r][0]], m[blake2b_sigma[r][1]]);                  \
        B2G(v1, v5, v9, v13, m[blake2b_sigma[r][2]], m[blake2b_sigma[r][3]]);                  \
        B2G(v2, v6, v10, v14, m[blake2b_sigma[r][4]], m[blake2b_sigma[r][5]]);                 \
        B2G(v3, v7, v11, v15, m[blake2b_sigma[r][6]], m[blake2b_sigma[r][7]]);                 \
        B2G(v0, v5, v10, v15, m[blake2b_sigma[r][8]], m[blake2b_sigma[r][9]]);                 \
        B2G(v1, v6, v11, v12, m[blake2b_sigma[r][10]], m[blake2b_sigma[r][11]]);               \
        B2G(v2, v7, v8, v13, m[blake2b_sigma[r][12]], m[blake2b_sigma[r][13]]);                \
        B2G(v3, v4, v9, v14, m[blake2b_sigma[r][14]], m[blake2b_sigma[r][15]]);                \
    } while (0)

static void blake2b_compress(uint64_t h[8], const uint8_t block[128], uint64_t counter, int last) {
    uint64_t m[16];
    for (int i = 0; i < 16; i++) m[i] = load64(block + 8 * i);
    uint64_t v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3], v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
    uint64_t v8 = blake2b_iv[0], v9 = blake2b_iv[1], v10 = blake2b_iv[2], v11 = blake2b_iv[3];
    /* The counter's high word stays 0: inputs are far below 2^64 bytes. */
    uint64_t v12 = blake2b_iv[4] ^ counter, v13 = blake2b_iv[5];
    uint64_t v14 = last ? ~blake2b_iv[6] : blake2b_iv[6], v15 = blake2b_iv[7];
    B2ROUND(0);
    B2ROUND(1);
    B2ROUND(2);
    B2ROUND(3);
    B2ROUND(4);
    B2ROUND(5);
    B2ROUND(6);
    B2ROUND(7);
    B2ROUND(8);
    B2ROUND(9);
    B2ROUND(10);
    B2ROUND(11);
    h[0] ^= v0 ^ v8;
    h[1] ^= v1 ^ v9;
    h[2] ^= v2 ^ v10;
    h[3] ^= v3 ^ v11;
    h[4] ^= v4 ^ v12;
    h[5] ^= v5 ^ v13;
    h[6] ^= v6 ^ v14;
    h[7] ^= v7 ^ v15;
}

static uint64_t blake2b_64(const uint8_t *data, size_t len) {
    uint64_t h[8];
    memcpy(h, blake2b_iv, sizeof h);
    h[0] ^= UINT64_C(0x01010000) ^ 8; /* fanout 1, depth 1, no key, 8-byte digest */
    size_t done = 0;
    while (len - done > 128) {
        done += 128;
        blake2b_compress(h, data + done - 128, (uint64_t)done, 0);
    }
    uint8_t last[128] = {0};
    memcpy(last, data + done, len - done);
    blake2b_compress(h, last, (uint64_t)len, 1);
    return h[0];
}

/* The lowercase of each Latin-1 character (str.lower keeps Latin-1 text in Latin-1, one
 * character for one) and its UTF-8 length. */
static uint8_t lower1[256];
/* 1: " "; 2: any other whitespace, or not ASCII (two bytes of UTF-8); 0: the rest. */
static uint8_t hash_class1[256];
static int lower1_exact = 1; /* 0 if some Latin-1 character lowers out of Latin-1 (none does) */

/* text_hash(text) -> int: blake2b (8 bytes, little-endian, >> 1) of the UTF-8 of
 * " ".join(text.lower().split()), for Latin-1 text; -1 for wider text (hashed in Python, where
 * str.lower may change a character's count). */
static PyObject *text_hash(PyObject *Py_UNUSED(module), PyObject *text) {
    int kind;
    const void *data;
    Py_ssize_t n;
    if (text_view(text, "text_hash", &kind, &data, &n) < 0) return NULL;
    if (kind != PyUnicode_1BYTE_KIND || !lower1_exact) return PyLong_FromLong(-1);
    const Py_UCS1 *s = (const Py_UCS1 *)data;
    uint8_t stack[4096];
    uint8_t *buf = stack;
    if (n > (Py_ssize_t)sizeof stack / 2) {
        buf = PyMem_Malloc((size_t)n * 2);
        if (buf == NULL) return PyErr_NoMemory();
    }
    /* Most passages are ASCII with single spaces: lowered byte for byte (branch-free), and
     * hashed as they are when no byte asked for more. */
    unsigned odd = 0, after_space = 1;
    Py_ssize_t i = 0;
#if SPACE_SSE2
    for (; sse2_ascii_exact && i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + i));
        Ascii16 b = ascii16(x);
        odd |= b.high | b.other_space | (b.spaces & ((b.spaces << 1) | after_space));
        after_space = b.spaces >> 15 & 1;
        _mm_storeu_si128((__m128i *)(buf + i), ascii_lower16(x));
    }
#endif
    for (; i < n; i++) {
        unsigned c = hash_class1[s[i]];
        buf[i] = lower1[s[i]];
        odd |= (c >> 1) | (c & after_space);
        after_space = c & 1;
    }
    if (!(odd | (n && after_space))) {
        uint64_t h = blake2b_64(buf, (size_t)n);
        if (buf != stack) PyMem_Free(buf);
        return PyLong_FromUnsignedLongLong(h >> 1);
    }
    /* Lowered, whitespace runs made one space, none at either end, encoded as UTF-8. */
    size_t len = 0;
    int pending_space = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS1 c = lower1[s[i]];
        if (space1[c]) {
            pending_space = len > 0;
            continue;
        }
        if (pending_space) {
            buf[len++] = ' ';
            pending_space = 0;
        }
        if (c < 0x80) {
            buf[len++] = c;
        } else {
            buf[len++] = (uint8_t)(0xc0 | c >> 6);
            buf[len++] = (uint8_t)(0x80 | (c & 0x3f));
        }
    }
    uint64_t h = blake2b_64(buf, len);
    if (buf != stack) PyMem_Free(buf);
    return PyLong_FromUnsignedLongLong(h >> 1);
}

/* A word character as the re module's \w has it for str patterns: str.isalnum() or "_". */
static uint8_t word1[256];

static inline int is_word(Py_UCS4 c) { return c < 256 ? word1[c] : (c == '_' || Py_UNICODE_ISALNUM(c)); }

/* The words of the last whole_words call, prepared: a tuple is immutable and is held here, so
 * the same object means the same words (the build passes one tuple for every paragraph). */
#define SHORT_WORD 64
typedef struct {
    Py_ssize_t len;
    int kind;
    const void *data;
} Word;
static PyObject *prepared_words;
/* Bit len of lengths[c]: some word of that length (< SHORT_WORD) starts with Latin-1 c. */
static uint64_t lengths[256];
/* The words starting with Latin-1 c (shorter than SHORT_WORD) are by_first[first[c] ..
 * first[c + 1]); the others (above Latin-1, or long) are by_first[first[256] ..]. */
static Py_ssize_t first[257];
static Word *by_first;
static Py_ssize_t word_count;

static int prepare_words(PyObject *words) {
    if (words == prepared_words) return 0;
    Py_ssize_t nw = PyTuple_GET_SIZE(words);
    for (Py_ssize_t w = 0; w < nw; w++) {
        PyObject *word = PyTuple_GET_ITEM(words, w);
        if (!PyUnicode_Check(word)) {
            PyErr_SetString(PyExc_TypeError, "words must be str");
            return -1;
        }
        if (READY(word) < 0) return -1;
    }
    Word *table = PyMem_Malloc((size_t)(nw ? nw : 1) * sizeof(Word));
    if (table == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* Bucketed by first character (a counting sort); empty words are never a run. */
    Py_ssize_t count[257] = {0};
    for (Py_ssize_t w = 0; w < nw; w++) {
        PyObject *word = PyTuple_GET_ITEM(words, w);
        Py_ssize_t len = PyUnicode_GET_LENGTH(word);
        if (len == 0) continue;
        Py_UCS4 c = PyUnicode_READ_CHAR(word, 0);
        count[c < 256 && len < SHORT_WORD ? c : 256]++;
    }
    Py_ssize_t at = 0;
    for (int c = 0; c < 257; c++) {
        first[c] = at;
        at += count[c];
    }
    word_count = at;
    Py_ssize_t fill[257];
    memcpy(fill, first, sizeof fill);
    memset(lengths, 0, sizeof lengths);
    for (Py_ssize_t w = 0; w < nw; w++) {
        PyObject *word = PyTuple_GET_ITEM(words, w);
        Py_ssize_t len = PyUnicode_GET_LENGTH(word);
        if (len == 0) continue;
        Py_UCS4 c = PyUnicode_READ_CHAR(word, 0);
        int bucket = c < 256 && len < SHORT_WORD ? (int)c : 256;
        if (bucket < 256) lengths[bucket] |= UINT64_C(1) << len;
        table[fill[bucket]++] = (Word){len, PyUnicode_KIND(word), PyUnicode_DATA(word)};
    }
    PyMem_Free(by_first);
    by_first = table;
    Py_INCREF(words);
    Py_XSETREF(prepared_words, words);
    return 0;
}

/* Whether the run [start, start + len) of text is one of by_first[from .. to). */
static int is_one_of(Py_ssize_t from, Py_ssize_t to, int kind, const void *data, Py_ssize_t start,
                     Py_ssize_t len) {
    for (Py_ssize_t w = from; w < to; w++) {
        const Word *word = &by_first[w];
        if (word->len != len) continue;
        if (word->kind == kind) {
            if (memcmp(word->data, (const char *)data + start * kind, (size_t)(len * kind)) == 0) return 1;
            continue;
        }
        Py_ssize_t k = 0;
        while (k < len && PyUnicode_READ(word->kind, word->data, k) == PyUnicode_READ(kind, data, start + k)) k++;
        if (k == len) return 1;
    }
    return 0;
}

/* Spans found, kept in C until the scan is over: no Python code (a finalizer run by an
 * allocation) may run while the prepared words are in use. */
typedef struct {
    Py_ssize_t start, end;
} Span;

typedef struct {
    Span *spans;
    Py_ssize_t len, cap;
    Span first[16];
} Spans;

static int spans_add(Spans *out, Py_ssize_t start, Py_ssize_t end) {
    if (out->len == out->cap) {
        Py_ssize_t cap = out->cap * 2;
        Span *grown = out->spans == out->first ? PyMem_Malloc((size_t)cap * sizeof(Span))
                                               : PyMem_Realloc(out->spans, (size_t)cap * sizeof(Span));
        if (grown == NULL) return -1;
        if (out->spans == out->first) memcpy(grown, out->first, sizeof out->first);
        out->spans = grown;
        out->cap = cap;
    }
    out->spans[out->len++] = (Span){start, end};
    return 0;
}

/* Whether the run [start, start + len) of text, starting with c0, is one of the words. */
static inline int is_word_of(Py_UCS4 c0, int kind, const void *data, Py_ssize_t start, Py_ssize_t len) {
    if (c0 < 256 && len < SHORT_WORD && (lengths[c0] >> len & 1) &&
        is_one_of(first[c0], first[c0 + 1], kind, data, start, len))
        return 1;
    return first[256] != word_count && is_one_of(first[256], word_count, kind, data, start, len);
}

/* Each maximal run of word characters of a wider text, in order; a run is compared with the
 * words only when a word has its first character and length, so most runs cost a lookup. */
#define WIDE_WHOLE_WORDS(T)                                                                    \
    do {                                                                                       \
        const T *s = (const T *)data;                                                          \
        Py_ssize_t i = 0;                                                                      \
        while (i < n) {                                                                        \
            while (i < n && !is_word(s[i])) i++;                                               \
            if (i >= n) break;                                                                 \
            Py_ssize_t start = i;                                                              \
            while (i < n && is_word(s[i])) i++;                                                \
            if (is_word_of(s[start], kind, data, start, i - start) &&                          \
                spans_add(&found, start, i) < 0)                                               \
                goto nomemory;                                                                 \
        }                                                                                      \
    } while (0)

#if SPACE_SSE2
/* Whether SSE2 finds exactly word1's ASCII characters (checked once at import). */
static int sse2_words_exact;

/* Bit j: byte j of the 16 at p is an ASCII word character (0-9, A-Z, a-z, _); bytes above
 * ASCII are in ``high``. */
static inline unsigned ascii_words16(const uint8_t *p, unsigned *high) {
    __m128i x = _mm_loadu_si128((const __m128i *)p);
    __m128i m = _mm_or_si128(in_range(x, '0', 10), in_range(x, 'A', 26));
    m = _mm_or_si128(m, in_range(x, 'a', 26));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(x, _mm_set1_epi8('_')));
    *high = (unsigned)_mm_movemask_epi8(x);
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Bit i of bits[i / 64]: character i of a Latin-1 text is a word character; no bit from n on,
 * and one whole word of none after the last. */
static void word_bits(const Py_UCS1 *s, Py_ssize_t n, uint64_t *bits) {
    Py_ssize_t i = 0;
#if SPACE_SSE2
    for (; sse2_words_exact && i + 64 <= n; i += 64) {
        uint64_t m = 0;
        for (int q = 0; q < 4; q++) {
            unsigned high;
            unsigned w = ascii_words16(s + i + 16 * q, &high);
            if (high) /* above ASCII: by table */
                for (int j = 0; j < 16; j++) w |= (unsigned)word1[s[i + 16 * q + j]] << j;
            m |= (uint64_t)w << (16 * q);
        }
        bits[i / 64] = m;
    }
#endif
    table_bits(s, i, n, word1, 0, bits);
}

/* whole_words(text, words) -> [(start, end), ...]: every maximal run of word characters of text
 * that equals one of words (a tuple of str), in order: the spans \b(?:w1|w2|...)\b finds. */
static PyObject *whole_words(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *text, *words;
    if (!PyArg_ParseTuple(args, "UO!:whole_words", &text, &PyTuple_Type, &words)) return NULL;
    if (READY(text) < 0 || prepare_words(words) < 0) return NULL;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Spans found = {NULL, 0, 16, {{0, 0}}};
    found.spans = found.first;
    uint64_t stack_bits[96]; /* a paragraph's first ATTRIBUTION_CHARS (5000) characters fit */
    uint64_t *bits = stack_bits;
    if (kind == PyUnicode_1BYTE_KIND) {
        Py_ssize_t words_needed = n / 64 + 2;
        if (words_needed > (Py_ssize_t)(sizeof stack_bits / sizeof stack_bits[0])) {
            bits = PyMem_Malloc((size_t)words_needed * sizeof(uint64_t));
            if (bits == NULL) goto nomemory;
        }
        const Py_UCS1 *s = (const Py_UCS1 *)data;
        word_bits(s, n, bits);
        /* Runs of set bits, walked by bit scans (as the chunk table walks its chunks). */
        Py_ssize_t i = 0;
        for (;;) {
            uint64_t w = bits[i >> 6] >> (i & 63);
            while (w == 0) {
                i = (i | 63) + 1;
                if (i >= n) break;
                w = bits[i >> 6];
            }
            if (i >= n) break;
            i += CTZ64(w);
            Py_ssize_t start = i;
            w = ~bits[i >> 6] >> (i & 63);
            while (w == 0) {
                i = (i | 63) + 1;
                w = ~bits[i >> 6];
            }
            i += CTZ64(w);
            if (is_word_of(s[start], kind, data, start, i - start) && spans_add(&found, start, i) < 0)
                goto nomemory;
        }
    } else if (kind == PyUnicode_2BYTE_KIND)
        WIDE_WHOLE_WORDS(Py_UCS2);
    else
        WIDE_WHOLE_WORDS(Py_UCS4);
    if (bits != stack_bits) PyMem_Free(bits);
    PyObject *out = PyList_New(found.len);
    for (Py_ssize_t j = 0; out != NULL && j < found.len; j++) {
        PyObject *span = Py_BuildValue("(nn)", found.spans[j].start, found.spans[j].end);
        if (span == NULL) Py_CLEAR(out);
        else PyList_SET_ITEM(out, j, span);
    }
    if (found.spans != found.first) PyMem_Free(found.spans);
    return out;
nomemory:
    if (bits != stack_bits) PyMem_Free(bits);
    if (found.spans != found.first) PyMem_Free(found.spans);
    return PyErr_NoMemory();
}

static PyMethodDef module_methods[] = {
    {"whole_words", whole_words, METH_VARARGS,
     "The (start, end) of every whole word of text that is one of words, in order."},
    {"isprintable", isprintable, METH_O, "str.isprintable(text), faster for Latin-1 text."},
    {"count_spaces", count_spaces, METH_O, "text.count(' '), without a branch per character."},
    {"folded_line", folded_line, METH_O,
     "text.isprintable() and ' '.join(text.split()) == text, in one pass for Latin-1 text."},
    {"text_hash", text_hash, METH_O,
     "blake2b (8 bytes, little-endian, >> 1) of ' '.join(text.lower().split()) as UTF-8, for\n"
     "Latin-1 text; -1 for wider text."},
    {"spaces_folded", spaces_folded, METH_O,
     "Whether ' '.join(text.split()) == text: no whitespace but single inner spaces."},
    {NULL, NULL, 0, NULL},
};

static PyObject *Table_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    static char *kwlist[] = {"seed", NULL};
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|K:ChunkTable", kwlist, &seed)) return NULL;
    Table *t = (Table *)type->tp_alloc(type, 0);
    if (t == NULL) return NULL;
    t->seed = (uint64_t)seed ^ UINT64_C(0xcbf29ce484222325); /* FNV offset basis */
    t->slots = PyMem_Calloc(64, sizeof(uint64_t));
    if (t->slots == NULL) {
        Py_DECREF(t);
        return PyErr_NoMemory();
    }
    t->mask = 63;
    t->pending = PyMem_Malloc(WINDOW * sizeof(Pending));
    if (t->pending == NULL) {
        Py_DECREF(t);
        return PyErr_NoMemory();
    }
    return (PyObject *)t;
}

static void Table_dealloc(Table *t) {
    PyMem_Free(t->slots);
    PyMem_Free(t->arena);
    PyMem_Free(t->pending);
    PyMem_Free(t->bits);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static Py_ssize_t Table_len(Table *t) { return t->count; }

static PyObject *Table_term_count(Table *t, PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromSsize_t(t->term_count);
}

static PyMethodDef Table_methods[] = {
    {"batch", (PyCFunction)Table_batch, METH_VARARGS,
     "batch(texts, shouted, add_chunk) -> (int32 term ids, int64 count per text), as bytearrays.\n\n"
     "shouted holds one byte per text (non-zero: analyse its chunks as all-capitals text).\n"
     "add_chunk(chunk, shouted) is called once per chunk never seen and returns its term ids."},
    {"term_count", (PyCFunction)Table_term_count, METH_NOARGS,
     "How many term ids the table keeps for all its chunks."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Table_as_sequence = {.sq_length = (lenfunc)Table_len};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "askbot.search._chunks.ChunkTable",
    .tp_doc = "ChunkTable(seed=0): whitespace-separated chunk (and shouted flag) -> term ids.",
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Table_new,
    .tp_dealloc = (destructor)Table_dealloc,
    .tp_methods = Table_methods,
    .tp_as_sequence = &Table_as_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_chunks", "Text -> term ids through a table of whitespace chunks.",
    -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__chunks(void) {
    for (int c = 0; c < 256; c++) {
        space1[c] = (uint8_t)(Py_UNICODE_ISSPACE(c) != 0);
        printable1[c] = (uint8_t)(Py_UNICODE_ISPRINTABLE(c) != 0);
        word1[c] = (uint8_t)(c == '_' || Py_UNICODE_ISALNUM(c));
        line_class1[c] = c == ' ' ? 1 : Py_UNICODE_ISPRINTABLE(c) ? 0 : 2;
        Py_UCS4 lower = Py_UNICODE_TOLOWER(c);
        lower1[c] = (uint8_t)lower;
        if (lower >= 256) lower1_exact = 0;
        hash_class1[c] = c == ' ' ? 1 : (c >= 0x80 || Py_UNICODE_ISSPACE(c)) ? 2 : 0;
    }
#if SPACE_SSE2
    sse2_spaces_exact = 1;
    for (int c = 0; c < 256; c++) {
        uint8_t block[16];
        memset(block, c, 16);
        if (spaces16(block) != (space1[c] ? 0xffffu : 0u)) sse2_spaces_exact = 0;
    }
    sse2_ascii_exact = 1;
    for (int c = 0; c < 256; c++) {
        uint8_t block[16];
        memset(block, c, 16);
        __m128i x = _mm_loadu_si128((const __m128i *)block);
        Ascii16 b = ascii16(x);
        uint8_t lowered[16];
        _mm_storeu_si128((__m128i *)lowered, ascii_lower16(x));
        int ascii = c < 0x80;
        unsigned all = 0xffffu;
        if (b.high != (ascii ? 0u : all)) sse2_ascii_exact = 0;
        if (!ascii) continue;
        if (b.printable != (printable1[c] ? all : 0u)) sse2_ascii_exact = 0;
        if (b.spaces != (c == ' ' ? all : 0u)) sse2_ascii_exact = 0;
        if (b.other_space != (hash_class1[c] == 2 ? all : 0u)) sse2_ascii_exact = 0;
        if (printable1[c] && line_class1[c] != (c == ' ' ? 1 : 0)) sse2_ascii_exact = 0;
        if (lowered[0] != lower1[c]) sse2_ascii_exact = 0;
    }
    sse2_words_exact = 1;
    for (int c = 0; c < 128; c++) {
        uint8_t block[16];
        unsigned high;
        memset(block, c, 16);
        if (ascii_words16(block, &high) != (word1[c] ? 0xffffu : 0u) || high) sse2_words_exact = 0;
    }
#endif
    if (PyType_Ready(&TableType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&TableType);
    if (PyModule_AddObject(m, "ChunkTable", (PyObject *)&TableType) < 0) {
        Py_DECREF(&TableType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
