/* Benchmark program: builds a linked list of N nodes with malloc (2000 unless argv[1] says
   otherwise), walks it twice, then one statement, line 40, unlinks the third node (about
   halfway through the lines the run executes); five more walks. Stop on line 43 (`break 43`)
   and `reverse-watch head->next->next->value`: its last change is line 40. */
#include <stdio.h>
#include <stdlib.h>

struct node {
    long value;
    struct node *next;
};

struct node *head;
long checksum;

static void push(long value)
{
    struct node *n = malloc(sizeof *n);
    n->value = value;
    n->next = head;
    head = n;
}

static long walk(void)
{
    long sum = 0;
    for (struct node *n = head; n != NULL; n = n->next)
        sum += n->value;
    return sum;
}

int main(int argc, char **argv)
{
    int count = argc > 1 ? atoi(argv[1]) : 2000;

    for (int i = 0; i < count; i++)
        push(i);
    for (int pass = 0; pass < 2; pass++)
        checksum += walk();
    head->next->next = head->next->next->next;
    for (int pass = 0; pass < 5; pass++)
        checksum += walk();
    printf("%ld\n", checksum);
    return 0;
}
