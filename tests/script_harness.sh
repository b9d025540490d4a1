# The shell tests' harness (sourced by tests/test-*.sh.in): the same output as the C harness,
# a line per test and "N passed, N failed" last, so ./run-tests counts them alike.
#
#   run_test NAME FUNCTION   runs FUNCTION unless the filter ($1 of the script) is not in NAME
#   fail MESSAGE             inside a test: records a failed check (the test goes on)

test_filter=${1:-}
tests_passed=0
tests_failed=0
test_failures=0
test_first_failure=

fail()
{
    test_failures=$((test_failures + 1))
    [ -n "$test_first_failure" ] || test_first_failure=$1
    echo "    check failed: $1"
}

run_test()
{
    local name=$1 function=$2
    case $name in *"$test_filter"*) ;; *) return 0 ;; esac
    test_failures=0
    test_first_failure=
    local start=$SECONDS
    "$function"
    local took="($((SECONDS - start)) s)"
    if [ "$test_failures" -eq 0 ]; then
        echo "ok    $name  $took"
        tests_passed=$((tests_passed + 1))
    else
        echo "FAIL  $name  ($test_failures failed checks; first: $test_first_failure)  $took"
        tests_failed=$((tests_failed + 1))
    fi
}

finish_tests()
{
    echo "$tests_passed passed, $tests_failed failed"
    [ "$tests_failed" -eq 0 ]
}
