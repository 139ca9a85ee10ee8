// SPDX-License-Identifier: MIT
#include <stddef.h>

#include "rtkfs/hist.h"

/* Bucket bounds in ns and as the le label says them (Prometheus's default buckets). */
static const uint64_t bound_ns[RTK_HIST_BOUNDS] = {
    5000000ull,	  10000000ull,	 25000000ull,	50000000ull,   100000000ull,   250000000ull,
    500000000ull, 1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull,
};
static const char *const bound_label[RTK_HIST_BOUNDS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10",
};

void rtk_hist_init(struct rtk_hist *h)
{
	for (int i = 0; i < RTK_HIST_SLOTS; i++)
		atomic_init(&h->slots[i], 0);
	atomic_init(&h->sum_ns, 0);
}

void rtk_hist_observe(struct rtk_hist *h, uint64_t ns)
{
	int i = 0;

	/* le is "less than or equal": a request of exactly 5 ms is in the 0.005 bucket. */
	while (i < RTK_HIST_BOUNDS && ns > bound_ns[i])
		i++;
	atomic_fetch_add_explicit(&h->slots[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
}

void rtk_hist_read(const struct rtk_hist *h, struct rtk_hist_snap *out)
{
	for (int i = 0; i < RTK_HIST_SLOTS; i++)
		out->slots[i] = atomic_load_explicit(&h->slots[i], memory_order_relaxed);
	out->sum_ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
}

const char *rtk_hist_bound_label(unsigned i)
{
	return i < RTK_HIST_BOUNDS ? bound_label[i] : "+Inf";
}
