#include <string.h>

#include "ref.h"

/* Copies part k's image n to or from its place in the whole's image n. */
static void move(int n, size_t plane, int count, const int *channels, double *const *parts,
                 double *whole, int whole_channels, int to_whole)
{
    for (int i = 0; i < n; i++) {
        size_t first = 0;
        for (int k = 0; k < count; k++) {
            size_t size = (size_t)channels[k] * plane;
            double *w = whole + (size_t)i * whole_channels * plane + first;
            double *p = parts[k] + (size_t)i * size;
            if (to_whole)
                memcpy(w, p, size * sizeof *w);
            else
                memcpy(p, w, size * sizeof *p);
            first += size;
        }
    }
}

static int total(int count, const int *channels)
{
    int c = 0;
    for (int k = 0; k < count; k++)
        c += channels[k];
    return c;
}

void ref_concat(int n, size_t plane, int count, const int *channels,
                const double *const *parts, double *whole)
{
    move(n, plane, count, channels, (double *const *)parts, whole, total(count, channels), 1);
}

void ref_split(int n, size_t plane, int count, const int *channels, const double *whole,
               double *const *parts)
{
    move(n, plane, count, channels, parts, (double *)whole, total(count, channels), 0);
}
