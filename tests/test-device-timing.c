/* How devices are timed: the verdict on event profiling from a calibration's figures (good,
 * missing, zero, coarse, disagreeing with the host clock), the calibration on every device,
 * the forced host clock giving real times to the timer, the profile and the GEMM tuner. No
 * test passes or fails on how fast anything is: only on times being finite and positive. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "device/device_internal.h"
#include "harness.h"
#include "ops/ops_state.h"
#include "yolokd/ops.h"

static ykd_timing_calibration good_calibration(void)
{
    return (ykd_timing_calibration){.bytes = 64 << 20, .copies = 4, .event_ms = 9.0,
                                    .span_ms = 9.5, .host_ms = 10.0, .resolution_ns = 1.0};
}

static void test_judge_accepts_good_events(ykd_test *t)
{
    char reason[256];
    ykd_timing_calibration c = good_calibration();
    CHECKF(t, ykd_timing_judge(&c, reason, sizeof reason), "refused: %s", reason);
    /* queueing costs on a fast device: the events see less than the host, not nothing */
    c.event_ms = 2.0;
    CHECKF(t, ykd_timing_judge(&c, reason, sizeof reason), "refused: %s", reason);
    c = good_calibration();
    c.resolution_ns = 1000.0; /* NVIDIA reports 1 us */
    CHECKF(t, ykd_timing_judge(&c, reason, sizeof reason), "refused: %s", reason);
}

static void expect_refused(ykd_test *t, const ykd_timing_calibration *c, const char *why)
{
    char reason[256];
    if (CHECKF(t, !ykd_timing_judge(c, reason, sizeof reason), "accepted, expected: %s", why))
        CHECK_CONTAINS(t, reason, why);
}

static void test_judge_refuses_bad_events(ykd_test *t)
{
    ykd_timing_calibration c = good_calibration();
    c.resolution_ns = 0; /* rusticl on llvmpipe */
    c.event_ms = 1e-6;
    c.span_ms = 2e-6;
    expect_refused(t, &c, "resolution of 0 ns");
    expect_refused(t, &c, "4 copies of 64 MiB read 0.000001 ms by their events (0.000002 ms "
                          "between markers), 10.000 ms by the host clock");
    c = good_calibration();
    c.span_ms = 0.0; /* good copy events, but markers that read nothing */
    expect_refused(t, &c, "(0.000000 ms between markers)");
    c = good_calibration();
    c.span_ms = -1.0;
    expect_refused(t, &c, "its markers carry no profiling information");
    c = good_calibration();
    c.event_ms = -1.0; /* CL_PROFILING_INFO_NOT_AVAILABLE */
    expect_refused(t, &c, "no profiling information");
    c = good_calibration();
    c.resolution_ns = 1e6;
    expect_refused(t, &c, "resolution is 1000 us, coarser than 10 us");
    c = good_calibration();
    c.event_ms = 0.0;
    expect_refused(t, &c, "read 0.000000 ms by their events");
    c = good_calibration();
    c.event_ms = 1e9; /* an end before its start, read as unsigned */
    expect_refused(t, &c, "by the host clock");
    c = good_calibration();
    c.host_ms = 0.0;
    expect_refused(t, &c, "the host clock did not advance");
}

/* Every device gets a verdict; where it is the events, the calibration saw real times. */
static void test_every_device_is_calibrated(ykd_test *t)
{
    const ykd_device_timing *timing = NULL;
    ykd_error err;
    if (!CHECK_OK(t, ykd_device_timing_get(t->device, &timing, &err), err))
        return;
    CHECK(t, timing->known);
    const ykd_timing_calibration *c = &timing->calibration;
    CHECK(t, c->bytes > 0 && c->copies > 0 && c->host_ms > 0);
    if (timing->events)
        CHECKF(t, c->event_ms > 0 && c->span_ms > 0 && c->resolution_ns > 0,
               "events %g ms, markers %g ms, resolution %g ns", c->event_ms, c->span_ms,
               c->resolution_ns);
    else
        CHECK(t, timing->reason[0] != '\0');
    char text[400];
    ykd_device_timing_describe(timing, text, sizeof text);
    CHECK_CONTAINS(t, text, timing->events ? "OpenCL events" : "host clock");
    CHECK(t, ykd_device_memory_in_use(t->device) == 0); /* the calibration's buffers are gone */
}

/* A timer around an 8 MiB copy (and a fill) reads a finite, positive time. */
static void expect_timer_works(ykd_test *t, ykd_device *dev)
{
    size_t bytes = 8 << 20;
    ykd_buffer *a = NULL, *b = NULL;
    ykd_error err;
    unsigned char one = 1;
    bool ready = CHECK_OK(t, ykd_buffer_alloc(dev, bytes, &a, &err), err) &&
                 CHECK_OK(t, ykd_buffer_alloc(dev, bytes, &b, &err), err);
    ykd_device_timer timer;
    double ms = -1;
    if (ready && CHECK_OK(t, ykd_device_timer_start(dev, &timer, &err), err)) {
        CHECK_OK(t, ykd_buffer_fill(a, 0, &one, 1, bytes, &err), err);
        CHECK_OK(t, ykd_buffer_copy(b, 0, a, 0, bytes, &err), err);
        CHECK_OK(t, ykd_device_timer_stop(dev, &timer, &ms, &err), err);
        CHECKF(t, isfinite(ms) && ms > 0, "the timer read %g ms", ms);
    }
    ykd_buffer_free(a);
    ykd_buffer_free(b);
}

/* With profiling on, each kernel of an op gets a finite, positive time and its launches. */
static void expect_profile_works(ykd_test *t, ykd_device *dev)
{
    ykd_tensor x = {0}, y = {0};
    ykd_error err;
    if (!CHECK_OK(t, ykd_tensor_alloc(dev, 2, 8, 16, 16, &x, &err), err) ||
        !CHECK_OK(t, ykd_tensor_alloc(dev, 2, 8, 16, 16, &y, &err), err) ||
        !CHECK_OK(t, ykd_tensor_fill(&x, 0.5f, &err), err)) {
        ykd_tensor_free(&x);
        return;
    }
    if (CHECK_OK(t, ykd_device_profile(dev, true, &err), err)) {
        for (int i = 0; i < 3; i++)
            CHECK_OK(t, ykd_silu_forward(&x, &y, &err), err);
        ykd_kernel_time times[8];
        size_t n = ykd_device_profile_take(dev, times, 8);
        unsigned launches = 0;
        for (size_t i = 0; i < n; i++) {
            launches += times[i].launches;
            CHECKF(t, isfinite(times[i].ms) && times[i].ms > 0, "kernel %s: %g ms",
                   times[i].name, times[i].ms);
        }
        CHECKF(t, n >= 1 && launches >= 3, "%zu kernels, %u launches", n, launches);
        ykd_device_profile(dev, false, NULL);
    }
    ykd_tensor_free(&x);
    ykd_tensor_free(&y);
}

static void test_timer_and_profile(ykd_test *t)
{
    expect_timer_works(t, t->device);
    expect_profile_works(t, t->device);
}

/* The path a device with unusable events takes, forced on every device. */
static void test_forced_host_clock(ykd_test *t)
{
    ykd_device *dev = ykd_test_reopen(t, NULL);
    if (!dev)
        return;
    ykd_device_timing_use_host(dev, "forced by the test");
    const ykd_device_timing *timing = NULL;
    ykd_error err;
    if (CHECK_OK(t, ykd_device_timing_get(dev, &timing, &err), err)) {
        CHECK(t, !timing->events);
        char text[400];
        ykd_device_timing_describe(timing, text, sizeof text);
        CHECK_CONTAINS(t, text, "host clock around a finished queue (event profiling unusable "
                                "on this device: forced by the test)");
    }
    expect_timer_works(t, dev);
    expect_profile_works(t, dev);
    ykd_device_close(dev);
}

static void test_timing_environment(ykd_test *t)
{
    ykd_test_env env = {0};
    ykd_error err;
    const ykd_device_timing *timing = NULL;
    ykd_test_setenv(&env, "YOLOKD_TIMING", "host");
    ykd_device *dev = ykd_test_reopen(t, NULL);
    if (dev && CHECK_OK(t, ykd_device_timing_get(dev, &timing, &err), err)) {
        CHECK(t, !timing->events);
        CHECK_CONTAINS(t, timing->reason, "YOLOKD_TIMING=host");
    }
    ykd_device_close(dev);
    ykd_test_setenv(&env, "YOLOKD_TIMING", "fastest");
    dev = ykd_test_reopen(t, NULL);
    if (dev) {
        CHECK_STATUS(t, ykd_device_timing_get(dev, &timing, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK_CONTAINS(t, err.message, "YOLOKD_TIMING: 'fastest' is neither");
        /* the timer and the profile pass the refusal on */
        ykd_device_timer timer;
        CHECK_STATUS(t, ykd_device_timer_start(dev, &timer, &err), YKD_ERR_INVALID_ARGUMENT,
                     err);
        CHECK_STATUS(t, ykd_device_profile(dev, true, &err), YKD_ERR_INVALID_ARGUMENT, err);
    }
    ykd_device_close(dev);
    ykd_test_restore_env(&env);
}

/* The GEMM tuner, with the events forced off, picks by real times: the time kept with its
 * choice is finite and positive, never the zero that unusable events read. */
static void test_tuner_times_are_real(ykd_test *t)
{
    ykd_device_options options = {.cache_dir = "off"};
    ykd_device *dev = ykd_test_reopen(t, &options);
    if (!dev)
        return;
    ykd_device_timing_use_host(dev, "forced by the test");
    ykd_error err;
    ykd_tensor x = {0}, w = {0}, y = {0};
    ykd_conv2d_params p = {.stride = 1, .padding = 1, .groups = 1};
    ykd_ops_state *state = NULL;
    if (CHECK_OK(t, ykd_tensor_alloc(dev, 1, 8, 12, 12, &x, &err), err) &&
        CHECK_OK(t, ykd_tensor_alloc(dev, 16, 8, 3, 3, &w, &err), err) &&
        CHECK_OK(t, ykd_tensor_alloc(dev, 1, 16, 12, 12, &y, &err), err) &&
        CHECK_OK(t, ykd_tensor_fill(&x, 0.5f, &err), err) &&
        CHECK_OK(t, ykd_tensor_fill(&w, 0.25f, &err), err) &&
        CHECK_OK(t, ykd_conv2d_forward(&x, &w, NULL, &p, YKD_ACTIVATION_NONE, &y, &err), err) &&
        CHECK_OK(t, ykd_ops_state_get(dev, &state, &err), err)) {
        CHECKF(t, state->choice_count >= 1, "%zu choices", state->choice_count);
        for (size_t i = 0; i < state->choice_count; i++)
            CHECKF(t, isfinite(state->choices[i].ms) && state->choices[i].ms > 0,
                   "%s: chosen at %g ms", state->choices[i].signature, state->choices[i].ms);
    }
    ykd_tensor_free(&x);
    ykd_tensor_free(&w);
    ykd_tensor_free(&y);
    ykd_device_close(dev);
}

static const ykd_test_case test_cases[] = {
    {"timing: good events are accepted", test_judge_accepts_good_events, YKD_TEST_HOST},
    {"timing: missing, zero, coarse or wrong events are refused", test_judge_refuses_bad_events,
     YKD_TEST_HOST},
    {"timing: every device is calibrated", test_every_device_is_calibrated, YKD_TEST_EACH_DEVICE},
    {"timing: the timer and the profile read real times", test_timer_and_profile,
     YKD_TEST_EACH_DEVICE},
    {"timing: the host clock when events are unusable", test_forced_host_clock,
     YKD_TEST_EACH_DEVICE},
    {"timing: YOLOKD_TIMING", test_timing_environment, YKD_TEST_EACH_DEVICE},
    {"timing: the GEMM tuner picks by real times", test_tuner_times_are_real,
     YKD_TEST_EACH_DEVICE},
};

int main(int argc, char **argv)
{
    return ykd_test_main(test_cases, sizeof test_cases / sizeof test_cases[0], argc, argv);
}
