#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rec { char name[8]; int id; };

int square(int x) {
    int y = x * x;
    return y;
}

int fact(int n) {
    if (n <= 1)
        return 1;
    return n * fact(n - 1);
}

int total = 0;

int main(void) {
    struct rec r;
    r.id = 7;
    for (int i = 0; i < 5; i++) {
        total += square(i);
    }
    int f = fact(4);
    strcpy(r.name, "overflowing");
    printf("total=%d f=%d id=%d\n", total, f, r.id);
    int *p = NULL;
    if (r.id != 7)
        *p = r.id;
    return 0;
}
