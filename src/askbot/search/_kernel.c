/*
 * askbot.search._kernel: exact BM25Okapi top-k over askbot's postings, with MaxScore pruning.
 *
 * The Python fallback (pruning.py, numpy) computes the same results; this is the same idea
 * without numpy's per-call overhead. It reads the index's arrays through the buffer protocol
 * (no numpy headers, no copies) and releases the GIL while it runs.
 *
 * Exactness. Scanning uses 8-bit impacts: q = floor(w / delta_t), delta_t = term_max_t / 255,
 * so every weight w lies in [q delta_t, (q + 1) delta_t]. Accumulating (q + 1) delta_t gives an
 * upper bound U(d) of every passage's score. Candidates are then rescored exactly: each weight is
 * computed from the posting's term frequency (binary search in the term's passage-sorted list)
 * with the very operations, in the very order, numpy uses (pruning.okapi_weight), and summed in
 * the query's own order, one addition per query term occurrence, which is bitwise what
 * Index.get_scores and rank-bm25 compute (compiled with -ffp-contract=off: no fused
 * multiply-adds). Reading 4-byte term frequencies instead of the 8-byte weights keeps fewer
 * pages of a memory-mapped index resident. Only passages whose bound reaches the threshold (with a
 * relative margin far above float32 rounding) are rescored, so nothing in the true top k is lost.
 *
 * Pruning (MaxScore, term at a time). theta is always the guarded k-th best exact score of k
 * distinct passages, so no true k-th best score is below it, and a passage whose bound is below
 * theta is strictly below k passages: it cannot be in the top k, whatever the tie order. After
 * each list read (scanned or probed), the passages with the highest bounds met in it are scored
 * exactly and may raise it (a single term's k best champions are its answer). While a list is
 * scanned, so may lower bounds: a weight is at least q delta_t, so a passage scores at least its
 * bound less every term's step; the k highest bounds met in the list, less that, are k scores
 * some k passages are sure to reach (guarded like the exact ones). Terms are read in decreasing order
 * of their bound (suffix[j]: the bounds of terms j.. summed), and:
 * - A passage first met in list j is in none of the lists before j, so it scores at most its bound
 *   in j plus suffix[j + 1]. Below theta it is never met (not accumulated, not listed). Were it met
 *   again in a later list, its bound there would lack its weight in j, but it is out of the top k
 *   already, and a passage out of the top k only ever costs work: rescored or dropped, it cannot
 *   displace a passage of the top k (its exact score is below theta).
 * - Once suffix[j] < theta, a passage none of the lists read so far contains cannot reach the top
 *   k, so the remaining (long, common-word) lists are only probed, never scanned for new passages;
 *   a passage met whose bound plus suffix[j] is below theta is dropped (its bound zeroed) while
 *   list j is probed by galloping, or at the end when it is scanned for the passages met.
 * - At the end, the passages whose bound reaches theta are rescored exactly, highest bound first,
 *   until no bound left reaches the k-th best exact score found.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMS 64
#define REL_GUARD 1e-5
/* Up to this many final candidates are sorted by bound and rescored best first. */
#define CAND_SORT_MAX 4096
/* What probing one passage costs, in postings scanned, on top of its galloping steps. */
#define GALLOP_COST 6.0
/* A bound accumulated in float32 over at most MAX_TERMS lists exceeds the sum of its (q + 1)
 * delta_t terms by less than this relative amount (1e-6 added per term, float rounding). */
#define LB_SHRINK 1e-5
/* Passages met sampled to estimate how many are still alive. */
#define SAMPLE 64

typedef struct {
    const int64_t *indptr;
    const int32_t *docs;
    const uint8_t *impacts;
    const int32_t *tfs;
    const int32_t *doc_len;
    const double *idf;
    double k1, b, avgdl;
    const double *delta;
    const double *term_max;
    const int64_t *champ_ptr;
    const int32_t *champ_docs;
} Arrays;

typedef struct {
    double score;
    int64_t doc;
} Entry;

/* a is worse than b: lower score, or the same score and a later passage. */
static inline int worse(const Entry *a, const Entry *b) {
    return a->score < b->score || (a->score == b->score && a->doc > b->doc);
}

/* A bounded min-heap of the k best entries; heap[0] is the worst kept. */
typedef struct {
    Entry *items;
    Py_ssize_t size, cap;
} Heap;

static void heap_push(Heap *h, double score, int64_t doc) {
    Entry e = {score, doc};
    if (h->size < h->cap) {
        Py_ssize_t i = h->size++;
        while (i > 0) {
            Py_ssize_t parent = (i - 1) / 2;
            if (!worse(&e, &h->items[parent])) break;
            h->items[i] = h->items[parent];
            i = parent;
        }
        h->items[i] = e;
        return;
    }
    if (h->cap == 0 || !worse(&h->items[0], &e)) return;
    Py_ssize_t i = 0;
    for (;;) {
        Py_ssize_t l = 2 * i + 1, r = l + 1, m = i;
        const Entry *best = &e;
        if (l < h->size && worse(&h->items[l], best)) { m = l; best = &h->items[l]; }
        if (r < h->size && worse(&h->items[r], best)) { m = r; }
        if (m == i) break;
        h->items[i] = h->items[m];
        i = m;
    }
    h->items[i] = e;
}

/* Position of passage d in term t's list, or -1. */
static inline int64_t find(const Arrays *a, int64_t t, int32_t d) {
    int64_t lo = a->indptr[t], hi = a->indptr[t + 1];
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (a->docs[mid] < d) lo = mid + 1; else hi = mid;
    }
    return (lo < a->indptr[t + 1] && a->docs[lo] == d) ? lo : -1;
}

/* The first position in [lo, hi) whose passage is >= d (hi if none), searching forward from lo. */
static inline int64_t gallop(const int32_t *docs, int64_t lo, int64_t hi, int32_t d) {
    if (lo >= hi || docs[lo] >= d) return lo;
    int64_t base = lo, step = 1; /* docs[base] < d throughout */
    while (base + step < hi && docs[base + step] < d) {
        base += step;
        step <<= 1;
    }
    int64_t l = base + 1, r = base + step < hi ? base + step : hi;
    while (l < r) {
        int64_t mid = l + (r - l) / 2;
        if (docs[mid] < d) l = mid + 1; else r = mid;
    }
    return l;
}

/* BM25Okapi's weight of term t at posting pos (passage d), bitwise as postings.py computes it:
 * idf * (tf * (k1 + 1) / (tf + k1 * ((1 - b) + b * dl / avgdl))), numpy's evaluation order. */
static inline double weight(const Arrays *a, int64_t t, int64_t pos, int32_t d) {
    double tf = (double)a->tfs[pos];
    double norm = a->b * (double)a->doc_len[d];
    norm = norm / a->avgdl;
    norm = (1.0 - a->b) + norm;
    norm = a->k1 * norm;
    double num = tf * (a->k1 + 1.0);
    return a->idf[t] * (num / (tf + norm));
}

/* The exact score of passage d, summed in query order (duplicates added once per occurrence). */
static double exact(const Arrays *a, const int64_t *seq, Py_ssize_t n_seq, int32_t d) {
    double s = 0.0;
    int64_t last_t = -1;
    double last_w = 0.0;
    for (Py_ssize_t i = 0; i < n_seq; i++) {
        int64_t t = seq[i];
        if (t != last_t) {
            int64_t pos = find(a, t, d);
            last_w = pos >= 0 ? weight(a, t, pos, d) : 0.0;
            last_t = t;
        }
        if (last_w != 0.0) s += last_w;
    }
    return s;
}

static inline double lower_guard(double theta) {
    return theta - REL_GUARD * (fabs(theta) > 1.0 ? fabs(theta) : 1.0);
}

/* theta, raised to what k passages whose bounds are at least hmin are sure to score: a bound
 * sums (q + 1) delta_t over the lists holding the passage, a weight is at least q delta_t, so the
 * score is at least the bound less every term's step (spread). qmin follows a raised theta. */
static inline double raise_theta(double theta, float hmin, double spread, const float *lut,
                                 double rest, int *qmin) {
    double lb = lower_guard((double)hmin * (1.0 - LB_SHRINK) - spread);
    if (lb <= theta) return theta;
    while (*qmin < 256 && (double)lut[*qmin] + rest < lb) (*qmin)++;
    return lb;
}

static int cmp_entry_desc(const void *x, const void *y) {
    const Entry *a = x, *b = y;
    if (worse(a, b)) return 1;
    if (worse(b, a)) return -1;
    return 0;
}

typedef struct {
    int64_t t;
    int mult;
    double ub;
} Term;

static int cmp_term_ub_desc(const void *x, const void *y) {
    const Term *a = x, *b = y;
    if (a->ub > b->ub) return -1;
    if (a->ub < b->ub) return 1;
    return (a->t > b->t) - (a->t < b->t);
}

/* Whether passage d is one of h's entries (a linear look: h holds k of them). */
static inline int heap_has(const Heap *h, int64_t d) {
    for (Py_ssize_t i = 0; i < h->size; i++)
        if (h->items[i].doc == d) return 1;
    return 0;
}

/* Offer passage d (whose bound is `bound`) to ex, the k best exact scores of distinct passages:
 * scored exactly unless it is there already or its bound cannot enter. */
static void offer_exact(const Arrays *a, const int64_t *seq, Py_ssize_t n_seq, Heap *ex, int32_t d,
                        double bound) {
    if (ex->size == ex->cap && bound < ex->items[0].score) return;
    if (heap_has(ex, d)) return;
    heap_push(ex, exact(a, seq, n_seq, d), d);
}

/* Keep in `touched` only the passages whose bound, plus `rest` (the bounds of the lists still
 * to read), reaches theta; the others cannot reach the top k: their bounds are zeroed and they
 * are never met again. The runs keep their order; their boundaries follow. The new count. */
static Py_ssize_t compact(float *acc, int32_t *touched, Py_ssize_t *run_start, int n_runs,
                          double rest, double theta) {
    Py_ssize_t n = 0;
    for (int r = 0; r < n_runs; r++) {
        Py_ssize_t s = run_start[r], e = run_start[r + 1];
        run_start[r] = n;
        for (Py_ssize_t i = s; i < e; i++) {
            int32_t d = touched[i];
            if ((double)acc[d] + rest >= theta) touched[n++] = d;
            else acc[d] = 0.0f;
        }
    }
    run_start[n_runs] = n;
    return n;
}

/*
 * topk(indptr, docs, impacts, tfs, delta, term_max, champ_ptr, champ_docs, seq, doc_len, idf,
 *      k, k1, b, avgdl, bounds, touched, out_docs, out_scores[, prune])
 *   -> (n, scanned, probes, met)
 * scanned: postings read in full lists; probes: passages looked up by galloping; met: passages
 * whose bounds were accumulated (the others were skipped or never in a scanned list).
 * prune=False scans every posting of every term (the benchmark's exhaustive compiled search).
 */
static PyObject *topk(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer b[15];
    Py_ssize_t k;
    double k1, bb, avgdl;
    memset(b, 0, sizeof(b));
    int prune = 1;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*y*y*nddd" "w*w*w*w*|p", &b[0], &b[1], &b[2],
                          &b[3], &b[4], &b[5], &b[6], &b[7], &b[8], &b[9], &b[10], &k, &k1, &bb,
                          &avgdl, &b[11], &b[12], &b[13], &b[14], &prune))
        return NULL;
    PyObject *result = NULL;
    Arrays a = {b[0].buf, b[1].buf, b[2].buf, b[3].buf, b[9].buf, b[10].buf, k1, bb, avgdl,
                b[4].buf, b[5].buf, b[6].buf, b[7].buf};
    const int64_t *seq = b[8].buf;
    Py_ssize_t n_seq = b[8].len / (Py_ssize_t)sizeof(int64_t);
    float *acc = b[11].buf;
    int32_t *touched = b[12].buf;
    Py_ssize_t touched_cap = b[12].len / (Py_ssize_t)sizeof(int32_t);
    int64_t *out_docs = b[13].buf;
    double *out_scores = b[14].buf;
    Py_ssize_t out_cap = b[14].len / (Py_ssize_t)sizeof(double);
    Py_ssize_t n_acc = b[11].len / (Py_ssize_t)sizeof(float);
    if (k <= 0 || out_cap < k || b[13].len / (Py_ssize_t)sizeof(int64_t) < k) {
        PyErr_SetString(PyExc_ValueError, "k must be positive and fit the output buffers");
        goto done;
    }
    if (!(avgdl > 0.0)) {
        PyErr_SetString(PyExc_ValueError, "avgdl must be positive");
        goto done;
    }
    /* Shapes and dtypes agree (int64 indptr, int32 docs, uint8 impacts, float64 weights...). */
    Py_ssize_t n_post = b[2].len, n_terms = b[4].len / 8;
    if (b[1].len != 4 * n_post || b[3].len != 4 * n_post || b[0].len != 8 * (n_terms + 1) ||
        b[5].len != 8 * n_terms || b[6].len != 8 * (n_terms + 1) || b[7].len % 4 != 0 ||
        b[8].len % 8 != 0 || b[9].len != 4 * n_acc || b[10].len != 8 * n_terms ||
        b[12].len / 4 != n_acc || b[13].len % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "index arrays of unexpected sizes or dtypes");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_seq; i++) {
        int64_t t = seq[i];
        if (t < 0 || t >= n_terms || a.indptr[t] < 0 || a.indptr[t] > a.indptr[t + 1] ||
            a.indptr[t + 1] > n_post || a.champ_ptr[t] < 0 || a.champ_ptr[t] > a.champ_ptr[t + 1] ||
            a.champ_ptr[t + 1] > b[7].len / 4) {
            PyErr_SetString(PyExc_ValueError, "query term outside the index, or damaged postings");
            goto done;
        }
    }
    Term terms[MAX_TERMS];
    int m = 0;
    for (Py_ssize_t i = 0; i < n_seq; i++) {
        int j = 0;
        while (j < m && terms[j].t != seq[i]) j++;
        if (j == m) {
            if (m == MAX_TERMS) {
                PyErr_SetString(PyExc_ValueError, "too many distinct query terms");
                goto done;
            }
            terms[m].t = seq[i];
            terms[m].mult = 0;
            m++;
        }
        terms[j].mult++;
    }
    /* ex, a list's best bounds and the final k (k each), then the candidates to sort. */
    Py_ssize_t cand_cap = CAND_SORT_MAX;
    Entry *heap_items = malloc(sizeof(Entry) * (size_t)(3 * k + cand_cap));
    if (heap_items == NULL) { PyErr_NoMemory(); goto done; }
    Py_ssize_t n_out = 0, n_touched = 0, scanned = 0, probes = 0, met = 0;
    int overflow = 0;

    Py_BEGIN_ALLOW_THREADS
    for (int j = 0; j < m; j++) terms[j].ub = terms[j].mult * a.term_max[terms[j].t];
    qsort(terms, (size_t)m, sizeof(Term), cmp_term_ub_desc);
    double suffix[MAX_TERMS + 1];
    suffix[m] = 0.0;
    for (int j = m - 1; j >= 0; j--) suffix[j] = suffix[j + 1] + terms[j].ub;
    /* The most a bound exceeds the weights it sums: one impact step per term (with margin). */
    double spread = 0.0;
    for (int j = 0; j < m; j++) spread += a.delta[terms[j].t] * terms[j].mult * (1.0 + 1e-6);

    /* 1. `ex` keeps the k best exact scores of distinct passages met so far: theta is its
     *    k-th, guarded. One term: its champions (all its postings when it keeps none) are
     *    scored, and when it has k champions they are the answer (below). Several terms: the
     *    first list is scanned whatever the threshold (a passage in it alone may reach the top
     *    k), and its best bounds are scored after it, which gives about the threshold the
     *    terms' champions gave, without scoring 16 champions per term first. */
    Heap ex = {heap_items, 0, k};
    if (m == 1) {
        int64_t t = terms[0].t;
        const int32_t *list = a.champ_docs + a.champ_ptr[t];
        int64_t len = a.champ_ptr[t + 1] - a.champ_ptr[t];
        if (len == 0) {
            list = a.docs + a.indptr[t];
            len = a.indptr[t + 1] - a.indptr[t];
        }
        for (int64_t i = 0; i < len; i++) {
            int32_t d = list[i];
            if (d < 0 || d >= n_acc) { overflow = 3; break; }
            heap_push(&ex, exact(&a, seq, n_seq, d), d);
        }
    }
    double theta = ex.size == ex.cap ? lower_guard(ex.items[0].score) : -INFINITY;
    if (!prune) theta = -INFINITY; /* for benchmarks: every list scanned, nothing skipped */
    if (prune && !overflow && m == 1 && ex.size == k &&
        a.champ_ptr[terms[0].t + 1] - a.champ_ptr[terms[0].t] >= k) {
        /* One term: the score is its weight (times its count), so the k best passages are its
         * k best champions (kept by weight desc, passage asc), already scored exactly. */
        n_out = ex.size;
        qsort(ex.items, (size_t)n_out, sizeof(Entry), cmp_entry_desc);
        for (Py_ssize_t i = 0; i < n_out; i++) {
            out_docs[i] = ex.items[i].doc;
            out_scores[i] = ex.items[i].score;
        }
        goto finished;
    }

    /* 2. Upper bounds, term at a time, most bound first; unread bounds below theta: probe only.
     *    Each scanned list appends its new passages to `touched` in ascending order (a run), so
     *    probing gallops through a list once per run instead of binary-searching every passage. */
    Py_ssize_t run_start[MAX_TERMS + 1];
    int n_runs = 0;
    run_start[0] = 0;
    for (int j = 0; j < m && !overflow; j++) {
        int64_t t = terms[j].t;
        float lut[256];
        double step = a.delta[t] * terms[j].mult;
        for (int q = 0; q < 256; q++) lut[q] = (float)((q + 1) * step * (1.0 + 1e-6));
        int64_t s = a.indptr[t], e = a.indptr[t + 1];
        if (suffix[j] >= theta) {
            /* A passage first met here is in none of the lists read so far: it scores at most
             * its bound here plus the bounds of the lists after this one. Below theta it
             * cannot reach the top k, so it is not met at all (impacts below qmin). */
            int qmin = 0;
            while (qmin < 256 && (double)lut[qmin] + suffix[j + 1] < theta) qmin++;
            /* The k passages of this list with the highest bounds so far, to rescore. */
            Heap hb = {heap_items + k, 0, k};
            float hmin = prune ? -INFINITY : INFINITY;
            run_start[n_runs] = n_touched;
            if (n_runs == 0) {
                /* The first list: no passage is met yet, so no bound needs reading. */
                for (int64_t p = s; p < e; p++) {
                    int32_t d = a.docs[p];
                    if (d < 0 || d >= n_acc) { overflow = 3; break; }
                    int q = a.impacts[p];
                    if (q < qmin) continue;
                    if (n_touched == touched_cap) { overflow = 1; break; }
                    float x = lut[q];
                    touched[n_touched++] = d;
                    acc[d] = x;
                    if (x > hmin) {
                        heap_push(&hb, x, d);
                        if (hb.size == k) {
                            hmin = (float)hb.items[0].score;
                            theta = raise_theta(theta, hmin, spread, lut, suffix[j + 1], &qmin);
                        }
                    }
                }
            } else {
                for (int64_t p = s; p < e; p++) {
                    int32_t d = a.docs[p];
                    if (d < 0 || d >= n_acc) { overflow = 3; break; }
                    int q = a.impacts[p];
                    float x = acc[d];
                    if (x == 0.0f) {
                        if (q < qmin) continue;
                        if (n_touched == touched_cap) { overflow = 1; break; }
                        touched[n_touched++] = d;
                    }
                    x += lut[q];
                    acc[d] = x;
                    if (x > hmin) {
                        heap_push(&hb, x, d);
                        if (hb.size == k) {
                            hmin = (float)hb.items[0].score;
                            theta = raise_theta(theta, hmin, spread, lut, suffix[j + 1], &qmin);
                        }
                    }
                }
            }
            met += n_touched - run_start[n_runs];
            run_start[++n_runs] = n_touched;
            scanned += e - s;
            /* The passages with the highest bounds so far are likely among the best: their
             * exact scores may raise the threshold enough to make the next lists probe-only. */
            for (Py_ssize_t i = 0; i < hb.size; i++)
                offer_exact(&a, seq, n_seq, &ex, (int32_t)hb.items[i].doc, hb.items[i].score);
            if (prune && ex.size == k && lower_guard(ex.items[0].score) > theta)
                theta = lower_guard(ex.items[0].score);
        } else {
            /* Probe-only. A passage met whose bound plus suffix[j] (this list's and the later
             * ones' bounds) is below theta cannot reach the top k: when the list is probed, it
             * is dropped for good (its bound zeroed) on the way; when the list is scanned,
             * dropping waits for a later pass. Whether to probe depends on how many passages
             * are still alive: estimated from an even sample of those met. */
            int64_t len = e - s;
            double live = (double)n_touched;
            if (n_touched > SAMPLE) {
                int alive = 0;
                for (Py_ssize_t i = 0; i < SAMPLE; i++)
                    alive += (double)acc[touched[(n_touched - 1) * i / (SAMPLE - 1)]] + suffix[j] >= theta;
                live = (double)n_touched * (alive + 1) / SAMPLE;
            }
            double per = GALLOP_COST + log2(1.0 + (double)len / (live + 1.0));
            Heap hb = {heap_items + k, 0, k};
            float hmin = prune ? -INFINITY : INFINITY;
            if (live * per < (double)len) {
                Py_ssize_t n = 0;
                for (int r = 0; r < n_runs; r++) {
                    int64_t cur = s;
                    Py_ssize_t rs = run_start[r], re = run_start[r + 1];
                    run_start[r] = n;
                    for (Py_ssize_t i = rs; i < re; i++) {
                        int32_t d = touched[i];
                        float x = acc[d];
                        if ((double)x + suffix[j] < theta) {
                            acc[d] = 0.0f;
                            continue;
                        }
                        touched[n++] = d;
                        cur = gallop(a.docs, cur, e, d);
                        if (cur < e && a.docs[cur] == d) {
                            x += lut[a.impacts[cur]];
                            acc[d] = x;
                            if (x > hmin) {
                                heap_push(&hb, x, d);
                                if (hb.size == k) hmin = (float)hb.items[0].score;
                            }
                        }
                    }
                }
                run_start[n_runs] = n;
                probes += n;
                n_touched = n;
            } else {
                for (int64_t p = s; p < e; p++) {
                    int32_t d = a.docs[p];
                    if (d < 0 || d >= n_acc) { overflow = 3; break; }
                    float x = acc[d];
                    if (x != 0.0f) {
                        x += lut[a.impacts[p]];
                        acc[d] = x;
                        if (x > hmin) {
                            heap_push(&hb, x, d);
                            if (hb.size == k) hmin = (float)hb.items[0].score;
                        }
                    }
                }
                scanned += e - s;
            }
            /* The best bounds with this term added: their exact scores may raise theta. */
            for (Py_ssize_t i = 0; i < hb.size; i++)
                offer_exact(&a, seq, n_seq, &ex, (int32_t)hb.items[i].doc, hb.items[i].score);
            if (prune && ex.size == k && lower_guard(ex.items[0].score) > theta)
                theta = lower_guard(ex.items[0].score);
        }
    }

    if (!overflow) {
        /* 3. The candidates: passages whose bound reaches the threshold. While there are many,
         *    the k best bounds rescored exactly raise the threshold (another k passages, so the
         *    k-th best exact score is again at most the true k-th best). */
        n_touched = compact(acc, touched, run_start, n_runs, 0.0, theta);
        while (n_touched > cand_cap) {
            Heap hb = {heap_items + k, 0, k};
            for (Py_ssize_t i = 0; i < n_touched; i++) heap_push(&hb, (double)acc[touched[i]], touched[i]);
            for (Py_ssize_t i = 0; i < hb.size; i++)
                offer_exact(&a, seq, n_seq, &ex, (int32_t)hb.items[i].doc, hb.items[i].score);
            if (!(ex.size == k && lower_guard(ex.items[0].score) > theta)) break;
            theta = lower_guard(ex.items[0].score);
            n_touched = compact(acc, touched, run_start, n_runs, 0.0, theta);
        }
        /* 4. The candidates rescored exactly, highest bound first, until no bound left reaches
         *    the k-th best exact score: every passage left scores below k passages already
         *    kept. The passages of `ex` are scored already (and all are candidates: their
         *    scores, hence their bounds, reach theta). */
        Heap fin = {heap_items + 2 * k, 0, k};
        for (Py_ssize_t i = 0; i < ex.size; i++) heap_push(&fin, ex.items[i].score, ex.items[i].doc);
        Entry *cand = heap_items + 3 * k;
        int sorted = n_touched <= cand_cap;
        if (sorted) {
            for (Py_ssize_t i = 0; i < n_touched; i++) {
                cand[i].score = (double)acc[touched[i]];
                cand[i].doc = touched[i];
            }
            qsort(cand, (size_t)n_touched, sizeof(Entry), cmp_entry_desc);
        }
        for (Py_ssize_t i = 0; i < n_touched; i++) {
            int32_t d = sorted ? (int32_t)cand[i].doc : touched[i];
            double bound = (double)acc[d];
            if (fin.size == k && bound < lower_guard(fin.items[0].score)) {
                if (sorted) break;
                continue;
            }
            if (heap_has(&ex, d)) continue;
            heap_push(&fin, exact(&a, seq, n_seq, d), d);
        }
        n_out = fin.size;
        qsort(fin.items, (size_t)n_out, sizeof(Entry), cmp_entry_desc);
        for (Py_ssize_t i = 0; i < n_out; i++) {
            out_docs[i] = fin.items[i].doc;
            out_scores[i] = fin.items[i].score;
        }
    }
    for (Py_ssize_t i = 0; i < n_touched; i++) acc[touched[i]] = 0.0f;
finished:
    Py_END_ALLOW_THREADS

    free(heap_items);
    if (overflow) {
        PyErr_SetString(PyExc_ValueError, overflow == 3
                        ? "damaged postings: a passage number outside the index"
                        : "scratch buffers smaller than the number of passages");
        goto done;
    }
    result = Py_BuildValue("nnnn", n_out, scanned, probes, met);
done:
    for (int i = 0; i < 15; i++)
        if (b[i].obj != NULL) PyBuffer_Release(&b[i]);
    return result;
}

/* A champion candidate: the posting's weight and its position in the term's list. */
typedef struct {
    double w;
    int64_t pos;
} Champ;

/* a is worse than b: lower weight, or the same weight and a later posting (a later passage). */
static inline int champ_worse(const Champ *a, const Champ *b) {
    return a->w < b->w || (a->w == b->w && a->pos > b->pos);
}

/* Offer c to the min-heap h (size n of capacity cap; h[0] the worst kept). Returns the new n. */
static Py_ssize_t champ_push(Champ *h, Py_ssize_t n, Py_ssize_t cap, Champ c) {
    Py_ssize_t i;
    if (n < cap) {
        i = n++;
        while (i > 0) {
            Py_ssize_t parent = (i - 1) / 2;
            if (!champ_worse(&c, &h[parent])) break;
            h[i] = h[parent];
            i = parent;
        }
        h[i] = c;
        return n;
    }
    if (cap == 0 || !champ_worse(&h[0], &c)) return n;
    i = 0;
    for (;;) {
        Py_ssize_t l = 2 * i + 1, r = l + 1, m = i;
        const Champ *best = &c;
        if (l < n && champ_worse(&h[l], best)) { m = l; best = &h[l]; }
        if (r < n && champ_worse(&h[r], best)) { m = r; }
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    h[i] = c;
    return n;
}

static int cmp_champ_desc(const void *x, const void *y) {
    const Champ *a = x, *b = y;
    if (champ_worse(a, b)) return 1;
    if (champ_worse(b, a)) return -1;
    return 0;
}

/* One thread's share of `finish`: terms [t0, t1), with its own weight and heap scratch. */
typedef struct {
    const int64_t *indptr, *champ_ptr;
    const int32_t *docs, *tfs;
    const double *idf, *norm;
    double k1p1;
    Py_ssize_t n_docs, t0, t1;
    double *term_max, *delta, *w;
    uint8_t *impacts;
    int32_t *champ_docs;
    Champ *heap;
    int bad;
} FinishJob;

static void *finish_terms(void *arg) {
    FinishJob *j = arg;
    const int32_t *docs = j->docs;
    double *w = j->w;
    Champ *heap = j->heap;
    for (Py_ssize_t t = j->t0; t < j->t1; t++) {
        int64_t s = j->indptr[t], e = j->indptr[t + 1], len = e - s;
        if (len == 0) {
            j->term_max[t] = 0.0;
            j->delta[t] = 0.0 / 255.0;
            continue;
        }
        double it = j->idf[t], m = 0.0;
        const int32_t *dd = docs + s, *tt = j->tfs + s;
        for (int64_t i = 0; i < len; i++) { /* the passage's norm, gathered (w as scratch) */
            int32_t d = dd[i];
            if (d < 0 || d >= j->n_docs) { j->bad = 1; return NULL; }
            w[i] = j->norm[d];
        }
        for (int64_t i = 0; i < len; i++) { /* branch-free: the compiler can vectorise it */
            double tf = (double)tt[i];
            w[i] = it * ((tf * j->k1p1) / (tf + w[i]));
        }
        for (int64_t i = 0; i < len; i++) {
            double x = w[i];
            if (i == 0 || isnan(x) || x > m) m = isnan(m) ? m : x;
        }
        j->term_max[t] = m;
        double dt = m / 255.0;
        j->delta[t] = dt;
        uint8_t *out = j->impacts + s;
        for (int64_t i = 0; i < len; i++) {
            double q = floor(w[i] / dt);
            if (isnan(q) || isinf(q) || q < 0.0) q = 0.0;
            else if (q > 255.0) q = 255.0;
            out[i] = (uint8_t)q;
        }
        Py_ssize_t cap = (Py_ssize_t)(j->champ_ptr[t + 1] - j->champ_ptr[t]), n = 0;
        if (cap > 0) {
            for (int64_t i = 0; i < len; i++) {
                /* Full, and not above the worst kept (a tie loses: a later passage). */
                if (n == cap && !(w[i] > heap[0].w) && !isnan(heap[0].w)) continue;
                Champ c = {w[i], i};
                n = champ_push(heap, n, cap, c);
            }
            qsort(heap, (size_t)n, sizeof(Champ), cmp_champ_desc);
            int32_t *cd = j->champ_docs + j->champ_ptr[t];
            for (Py_ssize_t i = 0; i < n; i++) cd[i] = docs[s + heap[i].pos];
        }
    }
    return NULL;
}

/* The most threads a kernel call runs its jobs on (finish, merge and inversion use two). */
#define MAX_JOB_THREADS 2

/* fn on each of n jobs (job i at jobs + i * size), n <= MAX_JOB_THREADS: job 0 on this thread,
 * the others on threads of their own, or here when a thread cannot be started. */
static void run_jobs(void *jobs, size_t size, Py_ssize_t n, void *(*fn)(void *)) {
    char *at = jobs;
    pthread_t tid[MAX_JOB_THREADS];
    int started[MAX_JOB_THREADS] = {0};
    for (Py_ssize_t k = 1; k < n; k++)
        started[k] = pthread_create(&tid[k], NULL, fn, at + (size_t)k * size) == 0;
    fn(at);
    for (Py_ssize_t k = 1; k < n; k++) {
        if (started[k]) pthread_join(tid[k], NULL);
        else fn(at + (size_t)k * size); /* no thread: do its share here */
    }
}

#define FINISH_THREADS MAX_JOB_THREADS
/* Below this many postings a second thread costs more than it saves. */
#define FINISH_PARALLEL_MIN 1000000

/*
 * finish(indptr, docs, tfs, doc_len, idf, k1, b, avgdl, champ_ptr,
 *        term_max, delta, impacts, champ_docs[, threads]) -> None
 *
 * What postings.finish_postings derives from the exact weights, term by term, without storing
 * the weights: each posting's weight (numpy's operations in numpy's order, as `weight` above),
 * the term's largest weight (np.maximum.reduceat: a NaN wins), delta = term_max / 255, the 8-bit
 * impacts floor(w / delta) (NaN and infinities 0, clipped to 0..255) and, for a term with
 * champions (champ_ptr[t + 1] - champ_ptr[t] of them), its best postings' passages by (weight
 * desc, passage asc). The first four arrays are read; the last four are written. Terms are
 * independent, so two threads each take a contiguous half of the postings (threads = 0: two
 * from FINISH_PARALLEL_MIN postings on, else one).
 */
static PyObject *finish(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer b[10];
    double k1, bb, avgdl;
    int want_threads = 0;
    memset(b, 0, sizeof(b));
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*dddy*w*w*w*w*|i", &b[0], &b[1], &b[2], &b[3], &b[4],
                          &k1, &bb, &avgdl, &b[5], &b[6], &b[7], &b[8], &b[9], &want_threads))
        return NULL;
    PyObject *result = NULL;
    const int64_t *indptr = b[0].buf;
    const int32_t *doc_len = b[3].buf;
    const int64_t *champ_ptr = b[5].buf;
    Py_ssize_t n_terms = b[4].len / 8, n_post = b[8].len, n_docs = b[3].len / 4;
    Py_ssize_t n_champ = b[9].len / 4;
    if (b[0].len != 8 * (n_terms + 1) || b[1].len != 4 * n_post || b[2].len != 4 * n_post ||
        b[5].len != 8 * (n_terms + 1) || b[6].len != 8 * n_terms || b[7].len != 8 * n_terms ||
        b[3].len % 4 != 0 || b[9].len % 4 != 0) {
        PyErr_SetString(PyExc_ValueError, "postings arrays of unexpected sizes or dtypes");
        goto done;
    }
    int64_t max_df = 0, max_champ = 0;
    for (Py_ssize_t t = 0; t < n_terms; t++) {
        int64_t df = indptr[t + 1] - indptr[t], nc = champ_ptr[t + 1] - champ_ptr[t];
        if (indptr[t] < 0 || df < 0 || indptr[t + 1] > n_post || champ_ptr[t] < 0 || nc < 0 ||
            champ_ptr[t + 1] > n_champ || nc > df) {
            PyErr_SetString(PyExc_ValueError, "damaged postings or champion offsets");
            goto done;
        }
        if (df > max_df) max_df = df;
        if (nc > max_champ) max_champ = nc;
    }
    if (indptr[n_terms] != n_post) {
        PyErr_SetString(PyExc_ValueError, "postings offsets do not cover the postings");
        goto done;
    }
    int threads = n_post >= FINISH_PARALLEL_MIN ? FINISH_THREADS : 1;
    if (want_threads > 0) threads = want_threads < FINISH_THREADS ? want_threads : FINISH_THREADS;
    FinishJob jobs[FINISH_THREADS];
    double *norm = malloc(sizeof(double) * (size_t)(n_docs > 0 ? n_docs : 1));
    int nomem = norm == NULL;
    for (int i = 0; i < threads; i++) {
        jobs[i].w = malloc(sizeof(double) * (size_t)(max_df > 0 ? max_df : 1));
        jobs[i].heap = malloc(sizeof(Champ) * (size_t)(max_champ > 0 ? max_champ : 1));
        nomem |= jobs[i].w == NULL || jobs[i].heap == NULL;
    }
    if (nomem) {
        free(norm);
        for (int i = 0; i < threads; i++) { free(jobs[i].w); free(jobs[i].heap); }
        PyErr_NoMemory();
        goto done;
    }
    /* Contiguous term ranges of about equal postings. */
    Py_ssize_t t = 0;
    for (int i = 0; i < threads; i++) {
        FinishJob *j = &jobs[i];
        j->indptr = indptr; j->champ_ptr = champ_ptr; j->docs = b[1].buf; j->tfs = b[2].buf;
        j->idf = b[4].buf; j->norm = norm; j->k1p1 = k1 + 1.0; j->n_docs = n_docs;
        j->term_max = b[6].buf; j->delta = b[7].buf; j->impacts = b[8].buf;
        j->champ_docs = b[9].buf; j->bad = 0;
        j->t0 = t;
        int64_t goal = (int64_t)((double)n_post * (i + 1) / threads);
        while (t < n_terms && (i == threads - 1 || indptr[t] < goal)) t++;
        j->t1 = t;
    }
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    /* k1 * ((1 - b) + b * dl / avgdl) depends on the passage alone: once per passage. */
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        double x = bb * (double)doc_len[d];
        x = x / avgdl;
        x = (1.0 - bb) + x;
        norm[d] = k1 * x;
    }
    run_jobs(jobs, sizeof(jobs[0]), threads, finish_terms);
    for (int i = 0; i < threads; i++) bad |= jobs[i].bad;
    Py_END_ALLOW_THREADS
    free(norm);
    for (int i = 0; i < threads; i++) { free(jobs[i].w); free(jobs[i].heap); }
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "damaged postings: a passage number outside the index");
        goto done;
    }
    result = Py_None;
    Py_INCREF(result);
done:
    for (int i = 0; i < 10; i++)
        if (b[i].obj != NULL) PyBuffer_Release(&b[i]);
    return result;
}

/*
 * merge(o_indptr, o_docs, o_tfs, remap, old_of_u, f_indptr, f_docs, f_tfs, fresh_of_u, base,
 *       out_indptr, out_docs, out_tfs[, threads]) -> postings written
 *
 * An incremental reindex's postings in one pass: for each term u of the union vocabulary (in
 * order), the saved postings of its saved term old_of_u[u] whose passage is kept (remap[d] >= 0,
 * renumbered to remap[d]), then the fresh postings of its fresh term fresh_of_u[u] (passage +
 * base); -1 means the term has none of that kind. out_indptr (U + 1) gets the offsets; out_docs
 * and out_tfs must hold every saved and fresh posting.
 *
 * A large merge (or threads > 1) runs on up to MERGE_THREADS threads, each over a contiguous
 * range of union terms holding about as many postings. A range's postings are written from where
 * they would start if no saved posting were dropped; each range is then moved down to follow the
 * one before it.
 */
#define MERGE_THREADS MAX_JOB_THREADS
#define MERGE_PARALLEL_MIN 4000000

typedef struct {
    const int64_t *o_indptr, *f_indptr, *old_of_u, *fresh_of_u;
    const int32_t *o_docs, *o_tfs, *remap, *f_docs, *f_tfs;
    int64_t *out_indptr;
    int32_t *out_docs, *out_tfs;
    Py_ssize_t n_remap, u0, u1;
    int64_t start, at; /* this range's first slot; after the merge, one past its last */
    long long base;
    int bad;
} MergeJob;

static void *merge_terms(void *arg) {
    MergeJob *j = arg;
    int64_t at = j->start;
    for (Py_ssize_t u = j->u0; u < j->u1; u++) {
        int64_t o = j->old_of_u[u], f = j->fresh_of_u[u];
        if (o >= 0) {
            for (int64_t p = j->o_indptr[o]; p < j->o_indptr[o + 1]; p++) {
                int32_t d = j->o_docs[p];
                if (d < 0 || d >= j->n_remap) { j->bad = 1; return NULL; }
                int32_t r = j->remap[d];
                if (r < 0) continue;
                j->out_docs[at] = r;
                j->out_tfs[at] = j->o_tfs[p];
                at++;
            }
        }
        if (f >= 0) {
            for (int64_t p = j->f_indptr[f]; p < j->f_indptr[f + 1]; p++) {
                j->out_docs[at] = (int32_t)(j->f_docs[p] + j->base);
                j->out_tfs[at] = j->f_tfs[p];
                at++;
            }
        }
        j->out_indptr[u + 1] = at;
    }
    j->at = at;
    return NULL;
}

static PyObject *merge(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer b[12];
    long long base;
    int want_threads = 0;
    memset(b, 0, sizeof(b));
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*y*y*Lw*w*w*|i", &b[0], &b[1], &b[2], &b[3], &b[4],
                          &b[5], &b[6], &b[7], &b[8], &base, &b[9], &b[10], &b[11], &want_threads))
        return NULL;
    PyObject *result = NULL;
    const int64_t *o_indptr = b[0].buf, *f_indptr = b[5].buf;
    const int64_t *old_of_u = b[4].buf, *fresh_of_u = b[8].buf;
    int64_t *out_indptr = b[9].buf;
    int32_t *out_docs = b[10].buf, *out_tfs = b[11].buf;
    Py_ssize_t v_old = b[0].len / 8 - 1, v_fresh = b[5].len / 8 - 1, n_union = b[4].len / 8;
    Py_ssize_t n_old = b[1].len / 4, n_fresh = b[6].len / 4;
    Py_ssize_t cap = b[10].len / 4;
    if (v_old < 0 || v_fresh < 0 || b[2].len != b[1].len || b[7].len != b[6].len ||
        b[8].len != b[4].len || b[9].len != 8 * (n_union + 1) || b[11].len != b[10].len ||
        cap < n_old + n_fresh || o_indptr[v_old] != n_old || f_indptr[v_fresh] != n_fresh) {
        PyErr_SetString(PyExc_ValueError, "merge arrays of unexpected sizes");
        goto done;
    }
    for (Py_ssize_t u = 0; u < n_union; u++) {
        int64_t o = old_of_u[u], f = fresh_of_u[u];
        if (o < -1 || o >= v_old || f < -1 || f >= v_fresh ||
            (o >= 0 && (o_indptr[o] < 0 || o_indptr[o] > o_indptr[o + 1] || o_indptr[o + 1] > n_old)) ||
            (f >= 0 && (f_indptr[f] < 0 || f_indptr[f] > f_indptr[f + 1] || f_indptr[f + 1] > n_fresh))) {
            PyErr_SetString(PyExc_ValueError, "damaged postings or term maps");
            goto done;
        }
    }
    int threads = n_old + n_fresh >= MERGE_PARALLEL_MIN ? MERGE_THREADS : 1;
    if (want_threads > 0) threads = want_threads < MERGE_THREADS ? want_threads : MERGE_THREADS;
    MergeJob jobs[MERGE_THREADS];
    int64_t bound = 0; /* postings of the terms before u, were no saved posting dropped */
    Py_ssize_t u = 0;
    for (int i = 0; i < threads; i++) {
        MergeJob *j = &jobs[i];
        j->o_indptr = o_indptr; j->f_indptr = f_indptr; j->old_of_u = old_of_u;
        j->fresh_of_u = fresh_of_u; j->o_docs = b[1].buf; j->o_tfs = b[2].buf;
        j->remap = b[3].buf; j->f_docs = b[6].buf; j->f_tfs = b[7].buf;
        j->out_indptr = out_indptr; j->out_docs = out_docs; j->out_tfs = out_tfs;
        j->n_remap = b[3].len / 4; j->base = base; j->bad = 0;
        j->u0 = u; j->start = bound;
        int64_t goal = (int64_t)((double)(n_old + n_fresh) * (i + 1) / threads);
        while (u < n_union && (i == threads - 1 || bound < goal)) {
            int64_t o = old_of_u[u], f = fresh_of_u[u];
            if (o >= 0) bound += o_indptr[o + 1] - o_indptr[o];
            if (f >= 0) bound += f_indptr[f + 1] - f_indptr[f];
            u++;
        }
        j->u1 = u;
        j->at = j->start;
    }
    int bad = 0;
    int64_t at = 0;
    Py_BEGIN_ALLOW_THREADS
    out_indptr[0] = 0;
    run_jobs(jobs, sizeof(jobs[0]), threads, merge_terms);
    for (int i = 0; i < threads; i++) bad |= jobs[i].bad;
    /* Each range follows the one before it: move it down over the dropped postings' slots. */
    for (int i = 0; i < threads && !bad; i++) {
        MergeJob *j = &jobs[i];
        int64_t n = j->at - j->start, shift = j->start - at;
        if (shift > 0) {
            memmove(out_docs + at, out_docs + j->start, (size_t)n * sizeof(int32_t));
            memmove(out_tfs + at, out_tfs + j->start, (size_t)n * sizeof(int32_t));
            for (Py_ssize_t t = j->u0; t < j->u1; t++) out_indptr[t + 1] -= shift;
        }
        at += n;
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "damaged postings: a passage number outside the index");
        goto done;
    }
    result = PyLong_FromLongLong(at);
done:
    for (int i = 0; i < 12; i++)
        if (b[i].obj != NULL) PyBuffer_Release(&b[i]);
    return result;
}

/* invert_count(tokens, doc_len, rank, parts, df_parts, last) -> postings
 * invert_fill(tokens, doc_len, rank, parts, indptr, df_parts, last, docs, tfs) -> None
 *
 * A build's passage-major token stream (the raw term ids of every passage, passage after
 * passage, doc_len[d] of them for passage d) turned into term-major CSR postings with term
 * frequencies: what scipy's CSR -> CSC conversion and run-length counting did in build_postings,
 * in two passes over the tokens and without int64 copies. rank maps a raw id to its term id.
 *
 * The passages are cut into one contiguous range per row of df_parts (int64 [parts, V]), each
 * range on its own thread. invert_count fills each part's document frequencies; the caller sums
 * them into indptr and allocates the postings; invert_fill then writes each part's postings after
 * the earlier parts' postings of the same term, so passages ascend within every term. last (int32
 * [parts, V]) is scratch: the passage a term was last seen in.
 */
typedef struct {
    const int32_t *tok, *dl, *rank;
    Py_ssize_t n_raw, v, d0, d1, at; /* passages [d0, d1), whose first token is tok[at] */
    int64_t *df, *pos, *end; /* this part's df row; fill: next free slot, end of its slots */
    int32_t *last, *slot, *loc_t, *loc_c;
    int32_t *docs, *tfs;
    int64_t postings;
    int bad;
} InvertJob;

static void *invert_count_part(void *arg) {
    InvertJob *j = arg;
    const int32_t *tok = j->tok, *rank = j->rank;
    int32_t *last = j->last;
    int64_t *df = j->df, postings = 0;
    Py_ssize_t at = j->at;
    for (Py_ssize_t t = 0; t < j->v; t++) { df[t] = 0; last[t] = -1; }
    for (Py_ssize_t d = j->d0; d < j->d1; d++) {
        for (int32_t i = 0; i < j->dl[d]; i++, at++) {
            int32_t raw = tok[at];
            int32_t t = (raw >= 0 && raw < j->n_raw) ? rank[raw] : -1;
            if (t < 0 || t >= j->v) { j->bad = 1; return NULL; }
            if (last[t] != (int32_t)d) { last[t] = (int32_t)d; df[t]++; postings++; }
        }
    }
    j->postings = postings;
    return NULL;
}

static void *invert_fill_part(void *arg) {
    InvertJob *j = arg;
    const int32_t *tok = j->tok, *rank = j->rank, *dl = j->dl;
    int32_t *last = j->last, *slot = j->slot, *loc_t = j->loc_t, *loc_c = j->loc_c;
    int32_t *docs = j->docs, *tfs = j->tfs;
    int64_t *pos = j->pos;
    const int64_t *end = j->end;
    const Py_ssize_t n_raw = j->n_raw, v = j->v, d1 = j->d1;
    Py_ssize_t at = j->at;
    for (Py_ssize_t t = 0; t < v; t++) last[t] = -1;
    for (Py_ssize_t d = j->d0; d < d1; d++) {
        int32_t n = 0, len = dl[d];
        const int32_t *dt = tok + at;
        at += len;
        for (int32_t i = 0; i < len; i++) { /* the passage's terms and counts */
            int32_t raw = dt[i];
            int32_t t = (raw >= 0 && raw < n_raw) ? rank[raw] : -1;
            if (t < 0 || t >= v) { j->bad = 1; return NULL; }
            if (last[t] != (int32_t)d) {
                last[t] = (int32_t)d;
                slot[t] = n;
                loc_t[n] = t;
                loc_c[n++] = 1;
            } else {
                loc_c[slot[t]]++;
            }
        }
        for (int32_t i = 0; i < n; i++) { /* one posting per term: passage, tf */
            int32_t t = loc_t[i];
            int64_t p = pos[t]++;
            if (p >= end[t]) { j->bad = 2; return NULL; } /* the counts were wrong */
            docs[p] = (int32_t)d;
            tfs[p] = loc_c[i];
        }
    }
    return NULL;
}

#define INVERT_PARTS MAX_JOB_THREADS

/* Parse and check invert's common arguments; cut the passages into parts. */
static int invert_setup(Py_buffer *b, Py_ssize_t v, Py_ssize_t parts, InvertJob *jobs) {
    Py_ssize_t n_tok = b[0].len / 4, n_docs = b[1].len / 4;
    const int32_t *dl = b[1].buf;
    int64_t total = 0;
    for (Py_ssize_t d = 0; d < n_docs && total >= 0; d++)
        total = dl[d] < 0 ? -1 : total + dl[d];
    if (total != n_tok || n_docs > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "passage lengths do not add up to the tokens");
        return -1;
    }
    if (parts < 1 || parts > INVERT_PARTS) {
        PyErr_SetString(PyExc_ValueError, "invert: unsupported number of parts");
        return -1;
    }
    Py_ssize_t d = 0, at = 0;
    for (Py_ssize_t k = 0; k < parts; k++) { /* equal shares of the tokens */
        InvertJob *j = &jobs[k];
        memset(j, 0, sizeof(*j));
        j->tok = b[0].buf;
        j->dl = dl;
        j->rank = b[2].buf;
        j->n_raw = b[2].len / 4;
        j->v = v;
        j->d0 = d;
        j->at = at;
        int64_t goal = (int64_t)((double)n_tok * (k + 1) / parts);
        while (d < n_docs && (k == parts - 1 || at < goal)) at += dl[d++];
        j->d1 = d;
    }
    return 0;
}

static PyObject *invert_count(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer b[5];
    InvertJob jobs[INVERT_PARTS];
    Py_ssize_t parts;
    memset(b, 0, sizeof(b));
    if (!PyArg_ParseTuple(args, "y*y*y*nw*w*", &b[0], &b[1], &b[2], &parts, &b[3], &b[4]))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t v = parts > 0 ? b[4].len / 4 / parts : 0;
    if (parts < 1 || b[4].len != 4 * v * parts || b[3].len != 8 * v * parts) {
        PyErr_SetString(PyExc_ValueError, "invert arrays of unexpected sizes");
        goto done;
    }
    if (invert_setup(b, v, parts, jobs) < 0) goto done;
    for (Py_ssize_t k = 0; k < parts; k++) {
        jobs[k].df = (int64_t *)b[3].buf + k * v;
        jobs[k].last = (int32_t *)b[4].buf + k * v;
    }
    int bad = 0;
    int64_t postings = 0;
    Py_BEGIN_ALLOW_THREADS
    run_jobs(jobs, sizeof(jobs[0]), parts, invert_count_part);
    for (Py_ssize_t k = 0; k < parts; k++) {
        bad |= jobs[k].bad;
        postings += jobs[k].postings;
    }
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "a token outside the vocabulary");
        goto done;
    }
    result = PyLong_FromLongLong(postings);
done:
    for (int i = 0; i < 5; i++)
        if (b[i].obj != NULL) PyBuffer_Release(&b[i]);
    return result;
}

static PyObject *invert_fill(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_buffer b[8];
    InvertJob jobs[INVERT_PARTS];
    Py_ssize_t parts;
    memset(b, 0, sizeof(b));
    memset(jobs, 0, sizeof(jobs));
    if (!PyArg_ParseTuple(args, "y*y*y*ny*y*w*w*w*", &b[0], &b[1], &b[2], &parts, &b[3], &b[4],
                          &b[5], &b[6], &b[7]))
        return NULL;
    PyObject *result = NULL;
    int64_t *pos = NULL;
    int32_t *local = NULL;
    const int64_t *indptr = b[3].buf, *df = b[4].buf;
    Py_ssize_t v = b[3].len / 8 - 1, n_post = b[6].len / 4;
    if (parts < 1 || v < 0 || b[4].len != 8 * v * parts || b[5].len != 4 * v * parts ||
        b[7].len != b[6].len || indptr[0] != 0 || indptr[v] != n_post) {
        PyErr_SetString(PyExc_ValueError, "invert arrays of unexpected sizes");
        goto done;
    }
    if (invert_setup(b, v, parts, jobs) < 0) goto done;
    for (Py_ssize_t t = 0; t < v; t++) { /* the parts' counts must fill each term exactly */
        int64_t sum = 0, neg = 0;
        for (Py_ssize_t k = 0; k < parts; k++) {
            sum += df[k * v + t];
            neg |= df[k * v + t] < 0;
        }
        if (neg || sum != indptr[t + 1] - indptr[t]) {
            PyErr_SetString(PyExc_ValueError, "postings offsets do not match the counts");
            goto done;
        }
    }
    int32_t max_len = 0;
    const int32_t *dl = b[1].buf;
    for (Py_ssize_t d = 0; d < b[1].len / 4; d++) max_len = dl[d] > max_len ? dl[d] : max_len;
    pos = PyMem_Malloc(sizeof(int64_t) * (size_t)(2 * v * parts + 1));
    local = PyMem_Malloc(sizeof(int32_t) * (size_t)(parts * (v + 2 * (Py_ssize_t)max_len) + 1));
    if (pos == NULL || local == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < parts; k++) {
        InvertJob *j = &jobs[k];
        j->pos = pos + 2 * k * v;
        j->end = j->pos + v;
        j->last = (int32_t *)b[5].buf + k * v;
        j->slot = local + k * (v + 2 * (Py_ssize_t)max_len);
        j->loc_t = j->slot + v;
        j->loc_c = j->loc_t + max_len;
        j->docs = b[6].buf;
        j->tfs = b[7].buf;
        for (Py_ssize_t t = 0; t < v; t++) { /* after the earlier parts' postings of the term */
            j->pos[t] = k == 0 ? indptr[t] : jobs[k - 1].end[t];
            j->end[t] = j->pos[t] + df[k * v + t];
        }
    }
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    run_jobs(jobs, sizeof(jobs[0]), parts, invert_fill_part);
    for (Py_ssize_t k = 0; k < parts; k++) bad |= jobs[k].bad;
    for (Py_ssize_t k = 0; k < parts && !bad; k++) /* each part wrote exactly what it counted */
        for (Py_ssize_t t = 0; t < v; t++)
            if (jobs[k].pos[t] != jobs[k].end[t]) bad = 2;
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, bad == 1 ? "a token outside the vocabulary"
                                                   : "postings counts do not match the tokens");
        goto done;
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyMem_Free(pos);
    PyMem_Free(local);
    for (int i = 0; i < 8; i++)
        if (b[i].obj != NULL) PyBuffer_Release(&b[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"topk", topk, METH_VARARGS,
     "Exact BM25Okapi top k by MaxScore over 8-bit impact bounds, rescored exactly."},
    {"finish", finish, METH_VARARGS,
     "Term maxima, impact steps, 8-bit impacts and champions from tf, dl and idf."},
    {"merge", merge, METH_VARARGS,
     "Saved postings of kept passages and fresh postings, term by term, in one pass."},
    {"invert_count", invert_count, METH_VARARGS,
     "Each term's passage count (df) from a build's passage-major token stream."},
    {"invert_fill", invert_fill, METH_VARARGS,
     "Term-major postings (passages, term frequencies) from a build's token stream."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernel", "askbot's compiled search kernel.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void) { return PyModule_Create(&module); }
