/* Max pooling with a square window (kernel k, stride s, padding p; padding is -infinity).
 *
 * Launched over planes as global (width, rows, N*C) (ykd_op_run_spatial): work-item (x, r)
 * of plane nc. The backward gathers rather than scatters, so it needs no atomics: a first
 * kernel records each window's argmax (its index in the input plane), then each input element
 * sums dy over the windows whose argmax it is, in a fixed order.
 *
 * Every kernel comes in three forms. The general one takes k, s, p as arguments. SPPF's
 * k = 5, s = 1, p = 2 has its own, with constant loops that unroll into straight-line code
 * PoCL vectorises across work-items (it vectorises only innermost loops, so a loop left in
 * the kernel keeps each work-item scalar), and splits the plane's rows in two launches:
 * interior rows (3 .. height - 4) load every window element unconditionally at a fixed offset
 * from the output's (a vector load) and mask the columns outside the plane, reading at most
 * 2 floats into a neighbouring row, never outside the plane; the 6 border rows (or all rows
 * of a plane under 7 rows or 2 columns) load only what lies inside.
 *
 * Non-interior kernels cover rows through (top, rows): launch row r < top is row r, the
 * others the plane's last rows (top = rows = height covers them all). */

#define INTERIOR_MARGIN 3 /* rows kept out of the interior at the top and at the bottom */

typedef struct window_max {
    float value;
    int index; /* in the input plane: row * width + column */
} window_max;

/* Keeps the first maximum in visiting order. A NaN never compares greater, so it does not
 * propagate as in PyTorch: testing for it made the SPPF kernels 4 times slower on PoCL. */
static window_max consider(window_max best, bool inside, float v, int index)
{
    bool better = inside && v > best.value;
    best.value = better ? v : best.value;
    best.index = better ? index : best.index;
    return best;
}

/* The plane row of this work-item, or -1 past the launch's rows (its global size is rounded
 * up to whole work-groups). */
static int launch_row(int top, int rows, int total, bool interior)
{
    int r = get_global_id(1);
    if (interior)
        return r < total - 2 * INTERIOR_MARGIN ? r + INTERIOR_MARGIN : -1;
    return r >= rows ? -1 : r < top ? r : total - rows + r;
}

/* The 25 taps of SPPF's 5x5 window written out: the compiler's unrolling of a constant loop
 * proved fragile, and a loop left in a kernel keeps PoCL from vectorising it. */
#define TAP_ROW5(TAP, ky) TAP(ky, 0) TAP(ky, 1) TAP(ky, 2) TAP(ky, 3) TAP(ky, 4)
#define TAPS5(TAP)                                                                             \
    TAP_ROW5(TAP, 0) TAP_ROW5(TAP, 1) TAP_ROW5(TAP, 2) TAP_ROW5(TAP, 3) TAP_ROW5(TAP, 4)

/* Window element (ky, kx) of scan_window. */
#define SCAN_TAP(ky, kx)                                                                       \
    {                                                                                          \
        int iy = y0 + (ky), ix = x0 + (kx), at = iy * width + ix;                              \
        bool column = ix >= 0 && ix < width;                                                   \
        if (interior) {                                                                        \
            best = consider(best, column, in[at], at);                                         \
        } else {                                                                               \
            bool inside = column && iy >= 0 && iy < height;                                    \
            best = consider(best, inside, inside ? in[at] : 0.0f, at);                         \
        }                                                                                      \
    }

/* The maximum of the window of output (oy, ox), visited in row-major order; when all are
 * -infinity, the first element inside the plane. sppf: k, s, p are 5, 1, 2. */
static window_max scan_window(__global const float *in, int height, int width, int oy, int ox,
                              int k, int s, int p, bool sppf, bool interior)
{
    int y0 = oy * s - p, x0 = ox * s - p;
    window_max best = {-INFINITY, max(y0, 0) * width + max(x0, 0)};
    if (sppf) {
        TAPS5(SCAN_TAP)
    } else {
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
                SCAN_TAP(ky, kx)
    }
    return best;
}

/* Output (oy, ox) of plane nc, or false for a work-item past the plane or the launch. */
static bool output_position(int out_width, int top, int rows, int out_height, bool interior,
                            int *oy, int *ox)
{
    *ox = get_global_id(0);
    *oy = launch_row(top, rows, out_height, interior);
    return *ox < out_width && *oy >= 0;
}

/* Each window's maximum into y (the forward), or with want_index its index in the input plane
 * into index (for the backward); the other output is unused. */
static void scan_windows(TENSOR_IN(x), TENSOR_OUT(y), __global int *index, uint channels,
                         int height, int width, int out_height, int out_width, int k, int s,
                         int p, int top, int rows, bool sppf, bool interior, bool want_index)
{
    int oy, ox;
    uint nc = get_global_id(2);
    if (!output_position(out_width, top, rows, out_height, interior, &oy, &ox))
        return;
    __global const float *in = PLANE(x, nc, channels, (size_t)height * width);
    window_max m = scan_window(in, height, width, oy, ox, k, s, p, sppf, interior);
    size_t at = (size_t)oy * out_width + ox;
    if (want_index)
        index[(size_t)nc * out_height * out_width + at] = m.index;
    else
        PLANE(y, nc, channels, (size_t)out_height * out_width)[at] = m.value;
}

/* Window candidate (ky, kx) of gather: the window (oy, ox) with oy * s = iy + p - ky. */
#define GATHER_TAP(ky, kx)                                                                     \
    {                                                                                          \
        int ty = iy + p - (ky), tx = ix + p - (kx), oy = ty / s, ox = tx / s;                  \
        int at = oy * out_width + ox;                                                          \
        bool column = tx >= 0 && ox * s == tx && ox < out_width;                               \
        if (interior) {                                                                        \
            /* s = 1 and every oy exists: only the column can fall outside, and loading        \
             * regardless stays in the plane */                                                \
            int argmax = win[at];                                                              \
            float grad = g[at];                                                                \
            sum += column && argmax == self ? grad : 0.0f;                                     \
        } else {                                                                               \
            bool window = column && ty >= 0 && oy * s == ty && oy < out_height;                \
            sum += window && win[at] == self ? g[at] : 0.0f;                                   \
        }                                                                                      \
    }

/* dx (+)= the sum of dy over the windows whose argmax is this element: over the planes of x.
 * Element (iy, ix) lies in window (oy, ox) when oy * s = iy + p - ky for some ky in [0, k)
 * (and the same across); the candidates are visited in a fixed order. */
static void gather(__global const int *index, TENSOR_IN(dy), uint accumulate, TENSOR_OUT(dx),
                   uint channels, int height, int width, int out_height, int out_width, int k,
                   int s, int p, int top, int rows, bool sppf, bool interior)
{
    int ix = get_global_id(0), iy = launch_row(top, rows, height, interior);
    uint nc = get_global_id(2);
    if (ix >= width || iy < 0)
        return;
    __global const int *win = index + (size_t)nc * out_height * out_width;
    __global const float *g = PLANE(dy, nc, channels, (size_t)out_height * out_width);
    int self = iy * width + ix;
    float sum = 0.0f;
    if (sppf) {
        TAPS5(GATHER_TAP)
    } else {
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++)
                GATHER_TAP(ky, kx)
    }
    __global float *out = PLANE(dx, nc, channels, (size_t)height * width);
    out[self] = (accumulate ? out[self] : 0.0f) + sum;
}

/* The kernels: general (k, s, p from the arguments), SPPF's border and interior rows. */
#define WINDOW_ARGS                                                                            \
    uint channels, int height, int width, int out_height, int out_width, int k, int s, int p,  \
        int top, int rows
#define DIMS channels, height, width, out_height, out_width

#define NO_VALUES 0, 0, 0 /* as TENSOR_OUT(y): the argmax kernels write no values */

__kernel void maxpool_forward(TENSOR_IN(x), TENSOR_OUT(y), WINDOW_ARGS)
{
    scan_windows(x, x_off, x_bs, y, y_off, y_bs, 0, DIMS, k, s, p, top, rows, false, false,
                 false);
}

__kernel void maxpool5_forward(TENSOR_IN(x), TENSOR_OUT(y), WINDOW_ARGS)
{
    scan_windows(x, x_off, x_bs, y, y_off, y_bs, 0, DIMS, 5, 1, 2, top, rows, true, false,
                 false);
}

__kernel void maxpool5_forward_interior(TENSOR_IN(x), TENSOR_OUT(y), WINDOW_ARGS)
{
    scan_windows(x, x_off, x_bs, y, y_off, y_bs, 0, DIMS, 5, 1, 2, top, rows, true, true,
                 false);
}

__kernel void maxpool_argmax(TENSOR_IN(x), __global int *index, WINDOW_ARGS)
{
    scan_windows(x, x_off, x_bs, NO_VALUES, index, DIMS, k, s, p, top, rows, false, false,
                 true);
}

__kernel void maxpool5_argmax(TENSOR_IN(x), __global int *index, WINDOW_ARGS)
{
    scan_windows(x, x_off, x_bs, NO_VALUES, index, DIMS, 5, 1, 2, top, rows, true, false, true);
}

__kernel void maxpool5_argmax_interior(TENSOR_IN(x), __global int *index, WINDOW_ARGS)
{
    scan_windows(x, x_off, x_bs, NO_VALUES, index, DIMS, 5, 1, 2, top, rows, true, true, true);
}

__kernel void maxpool_gather(__global const int *index, TENSOR_IN(dy), uint accumulate,
                             TENSOR_OUT(dx), WINDOW_ARGS)
{
    gather(index, dy, dy_off, dy_bs, accumulate, dx, dx_off, dx_bs, DIMS, k, s, p, top, rows,
           false, false);
}

__kernel void maxpool5_gather(__global const int *index, TENSOR_IN(dy), uint accumulate,
                              TENSOR_OUT(dx), WINDOW_ARGS)
{
    gather(index, dy, dy_off, dy_bs, accumulate, dx, dx_off, dx_bs, DIMS, 5, 1, 2, top, rows,
           true, false);
}

__kernel void maxpool5_gather_interior(__global const int *index, TENSOR_IN(dy),
                                       uint accumulate, TENSOR_OUT(dx), WINDOW_ARGS)
{
    gather(index, dy, dy_off, dy_bs, accumulate, dx, dx_off, dx_bs, DIMS, 5, 1, 2, top, rows,
           true, true);
}

/* ---- SPPF's window on small planes, a work-item per plane --------------------------------
 * On the deepest level's planes (5x5, 10x10) a work-item per output scans 25 taps with bounds
 * tests, and PoCL cannot vectorise rows 5 or 10 wide. Separably instead: each input row's
 * 5-wide window maxima once (the first maximum of the row segment and its column), then each
 * output the first strictly greater of the up to 5 rows' results top to bottom, which is the
 * first maximum in row-major order, as scan_window. The backward scatters dy into the
 * argmax with no atomics: its work-item owns the plane. Planes up to PLANE_SIDE square. */
#define PLANE_SIDE 16

/* The 5-wide window maxima of one row (padding 2): best[ox], and the column it was at. */
static void row_maxima(__global const float *row, int width, float *best, int *column)
{
    for (int ox = 0; ox < width; ox++) {
        int x0 = max(ox - 2, 0), x1 = min(ox + 2, width - 1);
        float b = -INFINITY;
        int at = x0;
        for (int ix = x0; ix <= x1; ix++) {
            float v = row[ix];
            bool better = v > b;
            b = better ? v : b;
            at = better ? ix : at;
        }
        best[ox] = b;
        column[ox] = at;
    }
}

/* Output (oy, ox): the row of the first strictly greater row maximum, top to bottom. */
static int window_row(const float best[PLANE_SIDE][PLANE_SIDE], int height, int oy, int ox)
{
    int y0 = max(oy - 2, 0), y1 = min(oy + 2, height - 1), row = y0;
    float b = best[y0][ox];
    for (int iy = y0 + 1; iy <= y1; iy++) {
        bool better = best[iy][ox] > b;
        b = better ? best[iy][ox] : b;
        row = better ? iy : row;
    }
    return row;
}

/* Every row's maxima of plane nc of x. */
static void plane_row_maxima(__global const float *in, int height, int width,
                             float best[PLANE_SIDE][PLANE_SIDE],
                             int column[PLANE_SIDE][PLANE_SIDE])
{
    for (int iy = 0; iy < height; iy++)
        row_maxima(in + (size_t)iy * width, width, best[iy], column[iy]);
}

__kernel void maxpool5_forward_planes(TENSOR_IN(x), TENSOR_OUT(y), uint channels, int height,
                                      int width, uint planes)
{
    uint nc = get_global_id(0);
    if (nc >= planes)
        return;
    float best[PLANE_SIDE][PLANE_SIDE];
    int column[PLANE_SIDE][PLANE_SIDE];
    size_t plane = (size_t)height * width;
    plane_row_maxima(PLANE(x, nc, channels, plane), height, width, best, column);
    __global float *out = PLANE(y, nc, channels, plane);
    for (int oy = 0; oy < height; oy++)
        for (int ox = 0; ox < width; ox++)
            out[oy * width + ox] = best[window_row(best, height, oy, ox)][ox];
}

/* dx (+)= dy summed into each window's maximum: the sums made apart, then added to dx. */
__kernel void maxpool5_backward_planes(TENSOR_IN(x), TENSOR_IN(dy), uint accumulate,
                                       TENSOR_OUT(dx), uint channels, int height, int width,
                                       uint planes)
{
    uint nc = get_global_id(0);
    if (nc >= planes)
        return;
    float best[PLANE_SIDE][PLANE_SIDE], sum[PLANE_SIDE * PLANE_SIDE];
    int column[PLANE_SIDE][PLANE_SIDE];
    size_t plane = (size_t)height * width;
    plane_row_maxima(PLANE(x, nc, channels, plane), height, width, best, column);
    int count = height * width;
    for (int i = 0; i < count; i++)
        sum[i] = 0.0f;
    __global const float *g = PLANE(dy, nc, channels, plane);
    for (int oy = 0; oy < height; oy++)
        for (int ox = 0; ox < width; ox++) {
            int row = window_row(best, height, oy, ox);
            sum[row * width + column[row][ox]] += g[oy * width + ox];
        }
    __global float *out = PLANE(dx, nc, channels, plane);
    for (int i = 0; i < count; i++)
        out[i] = (accumulate ? out[i] : 0.0f) + sum[i];
}
