/* Benchmark program: a loop whose `hit` function is called (and breakpointed) 1000 times.
   Break on line 16, the first line of hit() (`break hit` stops there too), and continue
   1000 times. */
#include <stdio.h>

static long work(long k)
{
    long s = 0;
    for (int j = 0; j < 200; j++)
        s += j * k;
    return s;
}

static long hit(long k)
{
    return k + 1;
}

int main(void)
{
    long total = 0;
    for (int i = 0; i < 1000; i++) {
        total += work(i);
        total = hit(total);
    }
    printf("%ld\n", total);
    return 0;
}
