/* What the loss kernels share (cl/loss_yolo.cl, cl/loss_kd.cl are built after this file):
 * their work-group size, a fixed-order group sum and an arithmetic log1p. */

/* GROUP, the work-items of every work-group, is a power of two the host chose for the device
 * and the kernels (src/ops/group_kernels.c) and passed as -DGROUP=N. */
#ifndef GROUP
#error "GROUP (the work-group size) is set by the build options"
#endif

/* Sums v over the work-group in a fixed order; every work-item must call it, the result is
 * valid in work-item 0. One barrier and a serial sum there: on PoCL each barrier costs a pass
 * over the work-group, and a tree of six of them cost more than the class loss itself. */
float group_sum(float v, __local float *scratch)
{
    int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    float sum = 0.0f;
    if (lid == 0)
        for (int i = 0; i < GROUP; i++)
            sum += scratch[i];
    return sum;
}

/* log(1 + x) for x in [0, 1], as 2 atanh(s) with s = x / (2 + x) <= 1/3: the odd series of
 * atanh up to s^17 (truncation below 2e-9 relative). Only arithmetic, so it vectorises: PoCL's
 * log1p and log are scalar calls, which made the class loss four times slower. */
float log1p_unit(float x)
{
    float s = x / (2.0f + x), z = s * s;
    float p = 1.0f / 17.0f;
    p = p * z + 1.0f / 15.0f;
    p = p * z + 1.0f / 13.0f;
    p = p * z + 1.0f / 11.0f;
    p = p * z + 1.0f / 9.0f;
    p = p * z + 1.0f / 7.0f;
    p = p * z + 1.0f / 5.0f;
    p = p * z + 1.0f / 3.0f;
    p = p * z + 1.0f;
    return 2.0f * s * p;
}
