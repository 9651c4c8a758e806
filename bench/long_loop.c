/* Benchmark program: a loop of N iterations (10^7 unless argv[1] says otherwise), a little
   arithmetic on a global each time; `marker` changes once, halfway (line 19). Stop on
   line 22, after the loop (`break 22`), and reverse-step: that lands on line 17, the
   loop's last test. */
#include <stdio.h>
#include <stdlib.h>

long marker;
long acc;
int done;

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000000;

    acc = 1;
    for (long i = 1; i <= n; i++) {
        if (i == n / 2)
            marker = 1;
        acc = (acc * 3 + i) % 1000003;
    }
    done = 1;
    printf("%ld %ld\n", acc, marker);
    return 0;
}
