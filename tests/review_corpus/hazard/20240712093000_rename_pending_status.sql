-- expect: rename-enum-value
-- Prisma migrate: migrations/20240712093000_rename_pending_status/migration.sql
-- AlterEnum
ALTER TYPE "OrderStatus" RENAME VALUE 'PENDING' TO 'QUEUED';
