/* A to-do list kept as a linked list. After removing two finished tasks, three are gone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
    const char *task;
    struct node *next;
};

static struct node *head;

static int list_len(const struct node *n)
{
    int len = 0;
    for (; n != NULL; n = n->next)
        len++;
    return len;
}

static void push(const char *task)
{
    struct node *n = malloc(sizeof *n);
    n->task = task;
    n->next = head;
    head = n;
}

static void remove_task(const char *task)
{
    if (head != NULL && strcmp(head->task, task) == 0) {
        struct node *done = head;
        head = head->next;
        free(done);
        return;
    }
    for (struct node *n = head; n != NULL && n->next != NULL; n = n->next) {
        if (strcmp(n->next->task, task) == 0) {
            struct node *done = n->next;
            n->next = done->next->next;  /* bug: skips the node after it too */
            free(done);
            return;
        }
    }
}

int main(void)
{
    const char *tasks[] = { "write", "test", "review", "merge", "deploy", "celebrate" };

    for (int i = 0; i < 6; i++)
        push(tasks[i]);
    remove_task("celebrate");
    remove_task("review");
    printf("tasks left: %d\n", list_len(head));
    for (struct node *n = head; n != NULL; n = n->next)
        printf("  %s\n", n->task);
    return 0;
}
