-- expect: rename-type
-- Prisma migrate: the enum was renamed in schema.prisma (@@map kept the values).
-- AlterEnum
ALTER TYPE "OrderStatus" RENAME TO "OrderState";
