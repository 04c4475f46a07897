"""One real-shaped payload per legacy topic, as existing TonyPi clients send them."""

RID = "tonypi_raspberrypi"
TS = "2026-01-21T07:24:04.123456"

LEGACY_MESSAGES = {
    f"tonypi/status/{RID}": {
        "robot_id": RID, "status": "online", "timestamp": TS,
        "system_info": {"platform": "Linux-6.6-rpi", "cpu_percent": 23.5,
                        "memory_percent": 41.0, "disk_usage": 55.2, "temperature": 61.3,
                        "cpu_temperature": 61.3, "uptime": 3600.0, "hardware_mode": True,
                        "hardware_sdk": True},
        "hardware_available": True, "ip_address": "192.168.1.50",
        "camera_url": "http://192.168.1.50:8081/?action=stream",
        "emergency_stopped": False, "emergency_reason": None,
    },
    f"tonypi/sensors/{RID}": {"robot_id": RID, "sensor_type": "ultrasonic_distance",
                              "value": 42.5, "timestamp": TS, "unit": "cm"},
    f"tonypi/servos/{RID}": {
        "robot_id": RID, "servo_count": 2, "timestamp": TS,
        "servos": {
            "servo_1": {"id": 1, "name": "Left Hip", "position": 12.5, "temperature": 45.0,
                        "voltage": 7.4, "torque_enabled": True, "alert_level": "normal"},
            "servo_2": {"id": 2, "name": "Head Pan", "position": -30.0, "temperature": 71.0,
                        "voltage": 7.3, "torque_enabled": False, "alert_level": "warning"},
        },
    },
    "tonypi/battery": {"robot_id": RID, "percentage": 76.0, "voltage": 11.7,
                       "charging": False, "timestamp": TS},
    "tonypi/location": {"robot_id": RID, "x": 1.5, "y": -0.25, "z": 0.0, "timestamp": TS},
    f"tonypi/logs/{RID}": {"robot_id": RID, "timestamp": TS, "level": "WARNING",
                           "message": "servo 2 warm", "source": "servo_monitor"},
    f"tonypi/scan/{RID}": {"robot_id": RID, "timestamp": TS, "qr_data": "ITEM-0042",
                           "station_name": "A3", "action": "pick"},
    f"tonypi/vision/{RID}": {"robot_id": RID, "timestamp": TS, "detection": True,
                             "label": "red_ball", "confidence": 0.91, "bbox": [1, 2, 3, 4],
                             "center_x": 320, "frame_width": 640, "state": "tracking",
                             "is_locked": True, "navigation_command": "forward", "error": None},
    f"tonypi/pi_status/{RID}": {"robot_id": RID, "system_cpu_percent": 12.0,
                                "system_memory_percent": 30.0, "system_disk_usage": 50.0,
                                "system_temperature": 55.0, "system_uptime": 100.0},
    "tonypi/commands/response": {"robot_id": RID, "command_id": "c-1", "timestamp": TS,
                                 "success": True, "message": "stopped"},
    "tonypi/emergency_stop/response": {"robot_id": RID, "command_id": "e-1", "timestamp": TS,
                                       "success": True, "message": "emergency stop engaged"},
}

JOB_PROGRESS = {"robot_id": RID, "start_time": "2026-01-21T07:20:00", "end_time": None,
                "items_total": 10, "items_done": 3, "percent": 30.0, "status": "working",
                "last_item": {"id": "ITEM-3"}, "history": [], "elapsed_time": 240.0,
                "estimated_duration": 800.0, "timestamp": TS}
JOB_EVENT_STARTED = {"robot_id": RID, "timestamp": TS, "task_name": "sort_items",
                     "status": "started", "phase": "init", "estimated_duration": 60.0}
